using System.Globalization;
using System.Text.RegularExpressions;
using StreamEngine.IntegrationTests.ExactlyOnce;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Operations;

/// <summary>
/// The embedded store's data folder on a 64 MiB tmpfs that is filled to the last byte while traffic arrives: the
/// engine stops writing (no batch completes), says why on <c>/readyz</c> and in its log, holds its source back (the
/// waiting rows stay within <c>pipeline.max_pending_rows</c>, the consumer pauses and the topic keeps what was not
/// read), and when the space comes back it resumes by itself and stores everything exactly once.
/// </summary>
public sealed partial class DiskFullTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private const int Events = 40_000;
    private const int MaxPendingRows = 2_000;
    private const int MaxPollIntervalSeconds = 10;

    [Fact]
    public async Task A_full_data_folder_holds_the_engine_back_and_nothing_is_lost_when_space_returns()
    {
        using var folder = new TemporaryDirectory("streamengine-disk-full");
        var (kafka, bootstrap) = await KafkaServe.StartAdTopicsAsync(folder, partitions: 4, Patience);
        using var kafkaProcess = kafka;
        using var disk = SmallDisk.Mount(folder.File("disk"), megabytes: 64);
        var store = $"clickhouse.path={Path.Combine(disk.Path, "clickhouse")}";
        var truthFile = folder.File("truth.json");
        using (var engine = StreamEngineCli.Start("run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", store,
                   "--set", "clickhouse.http.port=0", "--set", $"pipeline.max_pending_rows={MaxPendingRows}", "--set", "log.format=text",
                   // A member that stops polling for this long is evicted from the group: the outage below lasts longer.
                   "--set", $"kafka.max.poll.interval.ms={MaxPollIntervalSeconds * 1000}"))
        {
            var banner = await engine.WaitForOutputAsync(line => line.StartsWith("streamengine run:", StringComparison.Ordinal), Patience);
            using var http = new HttpClient { BaseAddress = new Uri(MetricsAt().Match(banner).Groups["base"].Value) };
            await Until(engine, async () => await ReadyAsync(http) == "ready\n", "the engine on the empty topic is ready");

            disk.Fill();
            var before = await MetricsAsync(http);
            using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", Events.ToString(CultureInfo.InvariantCulture),
                "--rate", "2000", "--seed", "11", "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);

            // Stopped writing, and says why; the waiting rows hold the source back and the consumer pauses.
            await Until(engine, async () => (await ReadyAsync(http)).Contains("out of disk space", StringComparison.Ordinal)
                && Value(await MetricsAsync(http), "streamengine_source_held_back") == 1
                && Value(await MetricsAsync(http), "streamengine_source_pauses_total") > Value(before, "streamengine_source_pauses_total"),
                "/readyz reports the full disk and the source is held back and paused");
            var stalled = await MetricsAsync(http);
            Assert.Equal(Value(before, "streamengine_sink_batches_total"), Value(stalled, "streamengine_sink_batches_total"));
            Assert.Contains("ad-metrics cannot write", await ReadyAsync(http), StringComparison.Ordinal);

            await generate.WaitForExitAsync(Patience);
            Assert.True(generate.ExitCode == 0, generate.StandardError);
            // The topic keeps what the engine did not read (consumer lag, from the client's periodic statistics).
            await Until(engine, async () => Value(await MetricsAsync(http), "streamengine_consumer_lag_messages") >= Events / 4,
                "the consumer lags by a quarter of the traffic or more");
            var held = await MetricsAsync(http);
            Assert.Equal(Value(before, "streamengine_sink_batches_total"), Value(held, "streamengine_sink_batches_total"));
            Assert.True(Value(held, "streamengine_messages_read_total") <= Events * 3 / 4, $"read {Value(held, "streamengine_messages_read_total")} of about {Events} messages");
            // Bounded: the bound, plus the one poll that found it reached (at most one batch per partition).
            Assert.True(Value(held, "streamengine_pending_rows") <= MaxPendingRows + 10_000, $"{Value(held, "streamengine_pending_rows")} rows pending");

            // The outage outlasts max.poll.interval.ms, and the source kept its partitions all along (it polls while paused).
            await Until(engine, async () => StalledFor().Match(await ReadyAsync(http)) is { Success: true } m && int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > MaxPollIntervalSeconds + 2,
                "the writes have been failing for longer than max.poll.interval.ms");
            Assert.Single(Regex.Matches(engine.StandardError, "assigned partitions"));
            Assert.DoesNotMatch("revoked|lost", engine.StandardError);

            disk.Release();
            await Until(engine, async () => await ReadyAsync(http) == "ready\n" && Value(await MetricsAsync(http), "streamengine_consumer_lag_messages") == 0
                && Value(await MetricsAsync(http), "streamengine_sink_stalled_seconds") == 0, "writing resumed and the engine caught up");
            Assert.True(Value(await MetricsAsync(http), "streamengine_sink_batches_total") > Value(before, "streamengine_sink_batches_total"));

            engine.Signal(15);
            await engine.WaitForExitAsync(Patience);
            Assert.True(engine.ExitCode == 0, $"exit {engine.ExitCode}: {engine.StandardError}");
            Assert.Contains("out of disk space", engine.StandardError, StringComparison.Ordinal);
            Assert.Contains("again after", engine.StandardError, StringComparison.Ordinal);
            Assert.Matches(@"reading was held back for \d+ s", engine.StandardError);
        }

        using var query = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, "--format", "JSONEachRow",
            "SELECT * FROM ads.campaign_minute ORDER BY window_start, campaign");
        Assert.True(query.ExitCode == 0, query.StandardError);
        Truth.AssertCampaignMinutesEqual(await File.ReadAllTextAsync(truthFile), query.StandardOutput);
        using var events = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, "SELECT count(), uniqExact(event_id_hash) FROM ads.events");
        Truth.AssertRawEventsComplete(await File.ReadAllTextAsync(truthFile), events.StandardOutput);
    }

    /// <summary>The body of <c>/readyz</c> (200 or 503 alike).</summary>
    private static async Task<string> ReadyAsync(HttpClient http)
    {
        using var response = await http.GetAsync("readyz");
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task<string> MetricsAsync(HttpClient http) => await http.GetStringAsync("metrics");

    /// <summary>The sum of a metric's samples over all its labels (0 when it has none).</summary>
    private static double Value(string exposition, string name) =>
        exposition.Split('\n')
            .Select(line => Sample().Match(line))
            .Where(m => m.Success && m.Groups["name"].Value == name)
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> and the engine's log when it does not in time.</summary>
    private static async Task Until(ChildProcess engine, Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await Holds(condition))
        {
            Assert.False(engine.HasExited, $"the engine exited ({(engine.HasExited ? engine.ExitCode : 0)}) before: {what}: {engine.StandardError}");
            Assert.True(DateTime.UtcNow < deadline, $"not within {Patience}: {what}; log: {engine.StandardError}");
            await Task.Delay(200);
        }
    }

    /// <summary>The condition; false while the engine's port does not answer (the caller then sees whether it exited).</summary>
    private static async Task<bool> Holds(Func<Task<bool>> condition)
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

    [GeneratedRegex(@"failing for (\d+) s")]
    private static partial Regex StalledFor();

    [GeneratedRegex(@"metrics at (?<base>http://[^ ]+/)metrics")]
    private static partial Regex MetricsAt();

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{[^}]*\})? (?<value>[-+0-9.eE]+|NaN)$")]
    private static partial Regex Sample();
}
