using System.Globalization;
using System.Text.Json;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>
/// Exactly once, end to end, with real processes: the embedded Kafka cluster in its own process, generated traffic
/// with duplicates, disorder and malformed messages (and its truth file), and the engine as a child process killed
/// with SIGKILL at random moments and restarted; after a final clean drain, <c>ads.campaign_minute</c> equals the
/// truth row for row.
/// </summary>
public sealed class CrashTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Results_after_ten_SIGKILLs_and_a_clean_drain_equal_one_clean_run()
    {
        using var folder = new TemporaryDirectory("streamengine-crash");
        var bootstrapFile = folder.File("bootstrap.txt");
        using var kafka = StreamEngineCli.Start("kafka", "serve", "--brokers", "3", "--topic", "ad-events:12", "--topic", "ad-events.dlq:3", "--bootstrap-file", bootstrapFile);
        await kafka.WaitForOutputAsync(line => line.StartsWith("embedded Kafka:", StringComparison.Ordinal), Patience);
        var bootstrap = (await File.ReadAllTextAsync(bootstrapFile)).Trim();
        var truthFile = folder.File("truth.json");
        // Traffic keeps arriving while the engine is killed and restarted (about 30 s at this rate), so the kills
        // land mid-stream: open windows, half-written checkpoints, unread partitions.
        using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", "60000", "--rate", "2000", "--seed", "7",
            "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);

        var store = $"clickhouse.path={folder.File("clickhouse")}";
        var random = new Random(42);
        for (var crash = 0; crash < 10; crash++)
        {
            // A fresh group each time: positions come from the checkpoints, and the killed member's partitions
            // need not time out first.
            using var engine = StreamEngineCli.Start("run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", store,
                "--set", "clickhouse.http.port=0", "--set", $"kafka.group=crash-{crash}");
            // Killed at a random moment after it started working: before, during or after a checkpoint (every 2 s).
            await engine.WaitForOutputAsync(line => line.StartsWith("streamengine run:", StringComparison.Ordinal), Patience);
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(200, 4500)));
            Assert.False(engine.HasExited, $"run {crash} exited by itself ({(engine.HasExited ? engine.ExitCode : 0)}): {engine.StandardError}");
            engine.Signal(9);
            await engine.WaitForExitAsync(Patience);
        }

        await generate.WaitForExitAsync(Patience);
        Assert.True(generate.ExitCode == 0, generate.StandardError);
        using (var drain = await StreamEngineCli.RunAsync(Patience, "run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", store,
                   "--set", "clickhouse.http.port=0", "--set", "kafka.group=drain", "--until-idle", "3"))
        {
            Assert.True(drain.ExitCode == 0, $"exit {drain.ExitCode}: {drain.StandardError}");
            // The killed runs got far enough to checkpoint: the drain continued from their offsets, not from the beginning.
            Assert.Matches(@"assigned partitions .*\d+@\d+", drain.StandardError);
        }

        await Truth.AssertStoreMatchesAsync(store, await Truth.ExpectedAsync(bootstrap, truthFile, Patience), Patience);
        // The breakdown parts (written only when they change) survived the kills too: each view adds up to the campaign.
        foreach (var view in new[] { "ads.ad_minute", "ads.campaign_geo_device_minute" })
        {
            using var parts = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, Truth.BreakdownMismatches(view));
            Assert.True(parts.ExitCode == 0, parts.StandardError);
            Assert.Equal("0", parts.StandardOutput.Trim());
        }
    }
}
