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
public sealed class DiskFullTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private const int Events = 60_000;
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
        string[] run = ["run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", store, "--set", "clickhouse.http.port=0", "--set", "log.format=text"];
        using (var process = StreamEngineCli.Start([.. run, "--set", $"pipeline.max_pending_rows={MaxPendingRows}",
                   // A member that stops polling for this long is evicted from the group: the outage below lasts longer.
                   "--set", $"kafka.max.poll.interval.ms={MaxPollIntervalSeconds * 1000}"]))
        using (var engine = await EngineUnderTest.AttachAsync(process, Patience))
        {
            await engine.UntilAsync(async () => await engine.ReadyAsync() == "ready\n", "the engine on the empty topic is ready");
            using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", Events.ToString(CultureInfo.InvariantCulture),
                "--rate", "2000", "--seed", "11", "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);
            // Every table written once (its deduplication setting made) before the disk fills: what fails then are
            // ClickHouse's own inserts. All five: the two results tables, events_log, the checkpoints and the state
            // segments (a results table's writer is listed from its first write on).
            await engine.UntilAsync(async () => EngineUnderTest.Samples(await engine.MetricsAsync(), "streamengine_sink_batches_total") is { Count: >= 5 } tables && tables.All(b => b > 0),
                "every table has taken a batch");

            disk.Fill();
            // Stopped writing, and says why (after 10 s of it); the waiting rows hold the source back and the consumer pauses.
            await engine.UntilAsync(async () => (await engine.ReadyAsync()).Contains("out of disk space", StringComparison.Ordinal), "/readyz reports the full disk");
            await engine.UntilAsync(async () => await engine.MetricAsync("streamengine_source_held_back") == 1 && await engine.MetricAsync("streamengine_source_pauses_total") > 0,
                "the source is held back and paused");
            var heldSince = DateTime.UtcNow;
            var stalled = await engine.MetricsAsync();
            Assert.Contains("ad-metrics cannot write", await engine.ReadyAsync(), StringComparison.Ordinal);

            await generate.WaitForExitAsync(Patience);
            Assert.True(generate.ExitCode == 0, generate.StandardError);
            // The topic keeps what the engine did not read (consumer lag, asked of the brokers while paused).
            await engine.UntilAsync(async () => await engine.MetricAsync("streamengine_consumer_lag_messages") >= Events / 4,
                "the consumer lags by a quarter of the traffic or more");
            // The outage outlasts max.poll.interval.ms, counted from the hold (the source kept polling meanwhile).
            await engine.UntilAsync(() => Task.FromResult(DateTime.UtcNow - heldSince > TimeSpan.FromSeconds(MaxPollIntervalSeconds + 3)),
                "the hold has lasted longer than max.poll.interval.ms");
            var held = await engine.MetricsAsync();
            Assert.Equal(Value(stalled, "streamengine_sink_batches_total"), Value(held, "streamengine_sink_batches_total"));
            Assert.True(Value(held, "streamengine_messages_read_total") <= Events * 3 / 4, $"read {Value(held, "streamengine_messages_read_total")} of about {Events} messages");
            // Bounded: the bound, plus the one poll that found it reached (at most one batch per partition).
            Assert.True(Value(held, "streamengine_pending_rows") <= MaxPendingRows + 10_000, $"{Value(held, "streamengine_pending_rows")} rows pending");

            disk.Release();
            await engine.UntilAsync(async () => await engine.ReadyAsync() == "ready\n" && await engine.MetricAsync("streamengine_consumer_lag_messages") == 0
                && await engine.MetricAsync("streamengine_pending_rows") == 0 && await engine.MetricAsync("streamengine_sink_stalled_seconds") == 0,
                "writing resumed and the engine caught up");
            Assert.True(await engine.MetricAsync("streamengine_sink_batches_total") > Value(held, "streamengine_sink_batches_total"));
            // The source kept its partitions all along: one assignment, never revoked, lost or evicted for not polling.
            Assert.Single(Regex.Matches(process.StandardError, "assigned partitions"));
            Assert.DoesNotMatch("revoked|lost|MAXPOLL|maximum poll interval", process.StandardError);

            process.Signal(15);
            await process.WaitForExitAsync(Patience);
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {process.StandardError}");
            // ClickHouse's own refusal of the inserts, reported as such, and the recovery.
            Assert.Matches("out of disk space: .*(Cannot reserve|No space left on device)", process.StandardError);
            Assert.Contains("again after", process.StandardError, StringComparison.Ordinal);
            Assert.Matches(@"reading was held back for \d+ s", process.StandardError);
        }

        // Whatever the drain left (read but not yet processed when the signal came) a restart finishes, exactly once.
        using (var drain = await StreamEngineCli.RunAsync(Patience, [.. run, "--until-idle", "3"]))
        {
            Assert.True(drain.ExitCode == 0, drain.StandardError);
        }

        await Truth.AssertStoreMatchesAsync(store, await Truth.ExpectedAsync(bootstrap, truthFile, Patience), Patience);
    }

    private static double Value(string exposition, string name) => EngineUnderTest.Value(exposition, name);

}
