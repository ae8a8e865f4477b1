using System.Globalization;
using System.Text.RegularExpressions;

namespace StreamEngine.TestUtilities;

/// <summary>
/// A <c>streamengine run</c> child process seen through its own port: <c>/readyz</c>, <c>/metrics</c>, and waiting
/// for a condition on them (state, not sleeps), failing with the engine's log when it exits or the time is up.
/// </summary>
public sealed partial class EngineUnderTest : IDisposable
{
    private readonly HttpClient _http;
    private readonly TimeSpan _patience;

    private EngineUnderTest(ChildProcess process, Uri port, TimeSpan patience)
    {
        Process = process;
        _http = new HttpClient { BaseAddress = port };
        _patience = patience;
    }

    public ChildProcess Process { get; }

    /// <summary>The engine's own HTTP base address, as its start-up line gave it (the port it bound).</summary>
    public Uri Url => _http.BaseAddress!;

    /// <summary>Waits for the start-up line of <c>run</c> and takes the engine's port from it.</summary>
    public static async Task<EngineUnderTest> AttachAsync(ChildProcess process, TimeSpan patience)
    {
        ArgumentNullException.ThrowIfNull(process);
        var banner = await process.WaitForOutputAsync(line => line.StartsWith("streamengine run:", StringComparison.Ordinal), patience);
        return new EngineUnderTest(process, new Uri(MetricsAt().Match(banner).Groups["base"].Value), patience);
    }

    /// <summary>The body of <c>/readyz</c> (200 and 503 alike).</summary>
    public async Task<string> ReadyAsync()
    {
        using var response = await _http.GetAsync("readyz");
        return await response.Content.ReadAsStringAsync();
    }

    public Task<string> MetricsAsync() => _http.GetStringAsync("metrics");

    /// <summary>A metric's value now, summed over its labels.</summary>
    public async Task<double> MetricAsync(string name) => Value(await MetricsAsync(), name);

    /// <summary>The sum of a metric's samples over all its labels (0 when it has none) in a Prometheus exposition.</summary>
    public static double Value(string exposition, string name) => Samples(exposition, name).Sum();

    /// <summary>A metric's samples, one per label set.</summary>
    public static IReadOnlyList<double> Samples(string exposition, string name)
    {
        ArgumentNullException.ThrowIfNull(exposition);
        return [.. exposition.Split('\n')
            .Select(line => Sample().Match(line))
            .Where(m => m.Success && m.Groups["name"].Value == name)
            .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))];
    }

    /// <summary>The partitions the engine holds now, from <c>streamengine_partition_assigned</c>.</summary>
    public async Task<IReadOnlyList<int>> HeldPartitionsAsync() =>
        [.. AssignedSeries().Matches(await MetricsAsync()).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Order()];

    /// <summary>
    /// Waits until the <paramref name="live"/> engines' <c>/metrics</c> show each of the topic's
    /// <paramref name="partitions"/> partitions held by exactly one of them, each holding some; returns what each holds.
    /// Fails with the engine's log when one exits, and with what they held when the first engine's patience is up.
    /// </summary>
    public static async Task<IReadOnlyList<IReadOnlyList<int>>> UntilEachPartitionHeldOnceAsync(IReadOnlyList<EngineUnderTest> live, int partitions, string after)
    {
        ArgumentNullException.ThrowIfNull(live);
        var deadline = DateTime.UtcNow + live[0]._patience;
        var held = new IReadOnlyList<int>[live.Count];
        while (true)
        {
            for (var i = 0; i < live.Count; i++)
            {
                if (live[i].Process.HasExited)
                {
                    throw new InvalidOperationException($"{after}: engine {live[i].Process.Id} exited ({live[i].Process.ExitCode}): {live[i].Process.StandardError}");
                }

                try
                {
                    held[i] = await live[i].HeldPartitionsAsync();
                }
                catch (HttpRequestException)
                {
                    held[i] = []; // its port does not answer yet
                }
            }

            var all = held.SelectMany(h => h).ToList();
            if (all.Count == partitions && all.Distinct().Count() == partitions && held.All(h => h.Count > 0))
            {
                return held;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"{after}: partitions not held once each within {live[0]._patience}: {string.Join(" | ", held.Select(h => string.Join(',', h)))}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> and the engine's log if it exits first or time runs out.</summary>
    public async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = DateTime.UtcNow + _patience;
        while (!await HoldsAsync(condition))
        {
            if (Process.HasExited)
            {
                throw new InvalidOperationException($"the engine exited ({Process.ExitCode}) before: {what}: {Process.StandardError}");
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"not within {_patience}: {what}; log: {Process.StandardError}");
            }

            await Task.Delay(200);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>False while the port does not answer (the caller then sees whether the engine exited).</summary>
    private static async Task<bool> HoldsAsync(Func<Task<bool>> condition)
    {
        try
        {
            return await condition();
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"^streamengine_partition_assigned\{[^}]*partition=""(\d+)""[^}]*\} 1$", RegexOptions.Multiline)]
    private static partial Regex AssignedSeries();

    [GeneratedRegex(@"metrics at (?<base>https?://[^ ]+/)metrics")]
    private static partial Regex MetricsAt();

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{[^}]*\})? (?<value>[-+0-9.eE]+|NaN)$")]
    private static partial Regex Sample();
}
