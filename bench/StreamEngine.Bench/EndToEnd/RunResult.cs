using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace StreamEngine.Bench.EndToEnd;

/// <summary>
/// What one contender's run measured, in its own process: from the first message consumed to the last one processed
/// (start-up and group joins left out, the same for everyone), the messages, CPU seconds of the whole process over
/// that span, and its peak resident memory.
/// </summary>
internal sealed record RunResult(string Contender, long Messages, double Seconds, double CpuSeconds, long PeakRssBytes, string Note = "")
{
    public const string Prefix = "RESULT ";

    public double EventsPerSecond => Messages / Seconds;

    public double CpuMicrosecondsPerEvent => CpuSeconds * 1e6 / Messages;

    public string ToLine() => Prefix + JsonSerializer.Serialize(this);

    public static RunResult? Parse(string line) => line.StartsWith(Prefix, StringComparison.Ordinal) ? JsonSerializer.Deserialize<RunResult>(line[Prefix.Length..]) : null;

    /// <summary>The process's peak resident set (VmHWM).</summary>
    public static long PeakRss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }
}

/// <summary>Marks the first and last message of a run: wall clock and process CPU at both.</summary>
internal sealed class RunClock
{
    private long _firstTicks;
    private TimeSpan _firstCpu;
    private long _lastTicks;
    private TimeSpan _lastCpu;

    public bool Started => _firstTicks != 0;

    public void First()
    {
        _firstTicks = Stopwatch.GetTimestamp();
        _firstCpu = Process.GetCurrentProcess().TotalProcessorTime;
    }

    public void Last()
    {
        _lastTicks = Stopwatch.GetTimestamp();
        _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
    }

    public RunResult Result(string contender, long messages, string note = "") =>
        new(contender, messages, Stopwatch.GetElapsedTime(_firstTicks, _lastTicks).TotalSeconds, (_lastCpu - _firstCpu).TotalSeconds, RunResult.PeakRss(), note);
}
