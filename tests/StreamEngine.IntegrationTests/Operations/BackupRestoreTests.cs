using System.Text.RegularExpressions;
using StreamEngine.AdEvents;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Operations;

/// <summary>
/// <c>backup</c> and <c>restore</c> of the embedded store, offsets included: a store restored from a backup taken
/// halfway resumes from the backup's offsets (not from the beginning) and ends with results equal to the store that
/// never stopped and to the truth.
/// </summary>
public sealed partial class BackupRestoreTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_restored_store_resumes_from_its_offsets_and_ends_equal_to_the_truth()
    {
        using var folder = new TemporaryDirectory("streamengine-backup");
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic("backup", 4);
        using var traffic = new GeneratedTraffic(kafka, topic, new TrafficOptions { Seed = 23, DuplicateFraction = 0.02, MalformedFraction = 0.01 });

        string[] Settings(string path) => ["--set", $"clickhouse.path={path}", "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}", "--set", "clickhouse.http.port=0"];
        async Task<ChildProcess> Run(string path)
        {
            var run = await StreamEngineCli.RunAsync(Patience, ["run", "--job", "ad-metrics", "--until-idle", "2", .. Settings(path)]);
            Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.StandardError}");
            return run;
        }

        var original = folder.File("original");
        var backup = folder.File("backup");
        var restored = folder.File("restored");
        traffic.Produce(8_000);
        using (await Run(original))
        {
        }

        using var backedUp = await StreamEngineCli.RunAsync(Patience, ["backup", "--to", backup, .. Settings(original)]);
        Assert.True(backedUp.ExitCode == 0, backedUp.StandardError);
        traffic.Produce(8_000);
        using (await Run(original))
        {
        }

        using var restore = await StreamEngineCli.RunAsync(Patience, ["restore", "--from", backup, .. Settings(restored)]);
        Assert.True(restore.ExitCode == 0, restore.StandardError);
        using var again = await StreamEngineCli.RunAsync(Patience, ["restore", "--from", backup, .. Settings(restored)]);
        Assert.Equal(2, again.ExitCode); // never over a store that holds tables
        Assert.Contains("already holds tables", again.StandardError, StringComparison.Ordinal);
        using var resumed = await Run(restored);

        // It resumed where the backup's offsets say (every partition past its beginning), not from scratch.
        var starts = AssignedOffsets().Match(resumed.StandardError);
        Assert.True(starts.Success, resumed.StandardError);
        Assert.DoesNotContain("@beginning", starts.Value, StringComparison.Ordinal);

        var expected = traffic.ExpectedRows().ToList();
        foreach (var path in new[] { original, restored })
        {
            using var query = await StreamEngineCli.RunAsync(Patience, ["query", .. Settings(path), GeneratedTraffic.CampaignMinuteQuery("ads")]);
            Assert.True(query.ExitCode == 0, query.StandardError);
            Assert.Equal(expected, query.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }

        using var events = await StreamEngineCli.RunAsync(Patience, ["query", .. Settings(restored), "SELECT count() = uniqExact(event_id_hash) FROM ads.events"]);
        Assert.Equal("1", events.StandardOutput.Trim()); // raw events: each once
    }

    [Fact]
    public async Task Backup_refuses_a_folder_that_is_not_empty_and_a_store_without_jobs()
    {
        using var folder = new TemporaryDirectory("streamengine-backup-errors");
        var used = folder.File("used");
        Directory.CreateDirectory(used);
        await File.WriteAllTextAsync(Path.Combine(used, "x"), "x");

        using var notEmpty = await StreamEngineCli.RunAsync(Patience, "backup", "--to", used, "--set", $"clickhouse.path={folder.File("store")}");
        using var noStore = await StreamEngineCli.RunAsync(Patience, "backup", "--to", folder.File("b"), "--set", $"clickhouse.path={folder.File("none")}");
        using var notBackup = await StreamEngineCli.RunAsync(Patience, "restore", "--from", used, "--set", $"clickhouse.path={folder.File("r")}");

        Assert.Equal(2, notEmpty.ExitCode);
        Assert.Contains("is not empty", notEmpty.StandardError, StringComparison.Ordinal);
        Assert.Equal(2, noStore.ExitCode);
        Assert.Contains("there is no store", noStore.StandardError, StringComparison.Ordinal);
        Assert.Equal(2, notBackup.ExitCode);
        Assert.Contains("is not a StreamEngine backup", notBackup.StandardError, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"assigned partitions [^""\n]*")]
    private static partial Regex AssignedOffsets();
}
