using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench;

/// <summary>
/// The demo as a newcomer meets it: <c>streamengine demo</c> in its own process (on a terminal, through
/// <c>script</c>, so its one-screen summary is redrawn every second as it is for a person, unless
/// <c>--redirected</c>), on a fresh data folder. Every 10 s it reads the process's CPU and resident memory from
/// /proc, and the CPU of each of its threads, grouped by thread name (librdkafka's <c>rdk:mock</c> is the embedded
/// cluster, <c>rdk:broker*</c> the clients' broker threads, chDB's and .NET's have their own names); the lag comes from
/// the demo's own summary line. Prints a table by minute and, for the last minutes, where the CPU went.
/// </summary>
public static partial class DemoSoak
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(10);
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    private sealed record Sample(TimeSpan At, long RssBytes, double CpuSeconds, Dictionary<string, double> ThreadCpuSeconds, long Events, long Lag);

    public static async Task<int> RunAsync(TimeSpan duration, TimeSpan warmUp, bool redirected)
    {
        using var folder = new TemporaryDirectory("streamengine-demo-soak");
        string[] demo = ["demo", "--port", "0", "--set", $"clickhouse.path={folder.File("clickhouse")}"];
        // On a terminal (script gives the demo one) its summary is redrawn every second, as a person sees it.
        using var process = redirected
            ? StreamEngineCli.Start(demo)
            : ChildProcess.Start("script", ["-q", "-e", "-c", string.Join(' ', new[] { "dotnet", "exec", StreamEngineCli.AssemblyPath }.Concat(demo).Select(Quote)), "/dev/null"]);
        var demoPid = await FindDemoAsync(process, TimeSpan.FromMinutes(2));
        Console.Error.WriteLine($"demo-soak: streamengine demo (pid {demoPid}{(redirected ? ", output redirected" : ", on a terminal")}) for {duration.TotalMinutes:F0} min; a sample every {SampleEvery.TotalSeconds:F0} s");
        var clock = Stopwatch.StartNew();
        var samples = new List<Sample>();
        while (clock.Elapsed < duration && !process.HasExited)
        {
            await Task.Delay(SampleEvery);
            var (events, lag) = LastSummary(process.StandardOutput);
            var sample = new Sample(clock.Elapsed, Rss(demoPid), ProcessCpu(demoPid), ThreadCpu(demoPid), events, lag);
            samples.Add(sample);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{sample.At.TotalSeconds,6:F0} s  rss {sample.RssBytes >> 20,5} MiB  cpu {sample.CpuSeconds,7:F1} s  events {sample.Events,11:N0}  lag {sample.Lag,7:N0}"));
        }

        var exited = process.HasExited;
        // Ctrl-C to the demo itself (script, when there, ends with it).
        using (var interrupt = Process.Start("kill", ["-INT", demoPid.ToString(CultureInfo.InvariantCulture)]))
        {
            await interrupt.WaitForExitAsync();
        }

        await process.WaitForExitAsync(TimeSpan.FromMinutes(1));
        Print(samples, duration, warmUp, redirected);
        if (exited)
        {
            Console.WriteLine($"The demo exited on its own before the end: {process.StandardError.Trim()}");
        }

        return exited ? 1 : 0;
    }

    private static string Quote(string argument) => "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The demo's own process: the child itself, or the dotnet process script started.</summary>
    private static async Task<int> FindDemoAsync(ChildProcess process, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            foreach (var pid in new[] { process.Id }.Concat(Descendants(process.Id)))
            {
                if (File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("streamengine.dll", StringComparison.Ordinal)
                    && File.ReadAllText($"/proc/{pid}/comm").Trim() != "script")
                {
                    return pid;
                }
            }

            await Task.Delay(200);
        }

        throw new InvalidOperationException($"the demo did not start: {process.StandardError}");
    }

    private static IEnumerable<int> Descendants(int pid)
    {
        var children = File.Exists($"/proc/{pid}/task/{pid}/children") ? File.ReadAllText($"/proc/{pid}/task/{pid}/children") : "";
        foreach (var child in children.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => int.Parse(c, CultureInfo.InvariantCulture)))
        {
            yield return child;
            foreach (var grandchild in Descendants(child))
            {
                yield return grandchild;
            }
        }
    }

    private static long Rss(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024).FirstOrDefault();

    private static double ProcessCpu(int pid) => StatCpu(File.ReadAllText($"/proc/{pid}/stat")).Cpu;

    /// <summary>CPU seconds by thread name, digits folded (rdk:broker1 and rdk:broker2 are one group).</summary>
    private static Dictionary<string, double> ThreadCpu(int pid)
    {
        var byName = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var (name, cpu) = StatCpu(File.ReadAllText(Path.Combine(task, "stat")));
                var group = Digits().Replace(name, "N");
                byName[group] = byName.GetValueOrDefault(group) + cpu;
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }

        return byName;
    }

    /// <summary>The name (comm) and utime + stime of a /proc stat line; the name may hold spaces and parentheses.</summary>
    private static (string Name, double Cpu) StatCpu(string stat)
    {
        var open = stat.IndexOf('(', StringComparison.Ordinal);
        var close = stat.LastIndexOf(')');
        var fields = stat[(close + 2)..].Split(' ');
        // After the name: state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 here.
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (stat[(open + 1)..close], ticks / TicksPerSecond);
    }

    private static (long Events, long Lag) LastSummary(string output)
    {
        var matches = SummaryLine().Matches(output);
        if (matches.Count == 0)
        {
            return (0, 0);
        }

        var last = matches[^1];
        static long Number(Group g) => long.Parse(g.Value.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
        return (Number(last.Groups["events"]), Number(last.Groups["lag"]));
    }

    private static void Print(List<Sample> samples, TimeSpan duration, TimeSpan warmUp, bool redirected)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Demo soak: streamengine demo for {duration.TotalMinutes:F0} min ({(redirected ? "output redirected" : "on a terminal, summary redrawn every second")}), fresh data folder; warm-up {warmUp.TotalMinutes:F0} min"));
        Console.WriteLine();
        Console.WriteLine("| minute | RSS MiB | cores (last minute) | events (ad-metrics) | lag | busiest threads (cores, last minute) |");
        Console.WriteLine("|---|---|---|---|---|---|");
        Sample? previous = null;
        foreach (var sample in samples.Where((s, i) => i == samples.Count - 1 || (int)s.At.TotalMinutes != (int)samples[i + 1].At.TotalMinutes))
        {
            var span = (sample.At - (previous?.At ?? TimeSpan.Zero)).TotalSeconds;
            var cores = (sample.CpuSeconds - (previous?.CpuSeconds ?? 0)) / span;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {sample.At.TotalMinutes:F1} | {sample.RssBytes >> 20} | {cores:F2} | {sample.Events:N0} | {sample.Lag:N0} | {Busiest(previous, sample, span, 4)} |"));
            previous = sample;
        }

        var steady = samples.Where(s => s.At >= warmUp).ToList();
        if (steady.Count >= 2)
        {
            var (first, last) = (steady[0], steady[^1]);
            var span = (last.At - first.At).TotalSeconds;
            var xs = steady.Select(s => s.At.TotalMinutes).ToArray();
            var ys = steady.Select(s => (s.RssBytes >> 20) * 1.0).ToArray();
            var slope = Measurement.SlopeOf(xs, ys);
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"After the warm-up (minute {first.At.TotalMinutes:F1} to {last.At.TotalMinutes:F1}): {(last.CpuSeconds - first.CpuSeconds) / span:F2} cores; RSS {ys.Min():F0}-{ys.Max():F0} MiB, " +
                $"slope {slope:+0.0;-0.0} MiB/min; {(last.Events - first.Events) / span:N0} events/s through ad-metrics; lag at most {steady.Max(s => s.Lag):N0}"));
            Console.WriteLine($"Where the CPU went after the warm-up (cores): {Busiest(first, last, span, 8)}");
        }
    }

    private static string Busiest(Sample? from, Sample to, double seconds, int count) =>
        string.Join(", ", to.ThreadCpuSeconds
            .Select(t => (Name: t.Key, Cores: (t.Value - (from?.ThreadCpuSeconds.GetValueOrDefault(t.Key) ?? 0)) / seconds))
            .OrderByDescending(t => t.Cores).Take(count)
            .Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {t.Cores:F2}")));

    [GeneratedRegex(@"\] +[\d,]+ events/s +(?<events>[\d,]+) events +lag +(?<lag>[\d,]+)")]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"\d+")]
    private static partial Regex Digits();
}
