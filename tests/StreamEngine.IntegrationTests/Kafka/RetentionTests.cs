using System.Text.RegularExpressions;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>
/// A stored position that retention deleted before the engine came back to it: the embedded cluster keeps about 5 MB
/// per partition, so a stopped engine whose partition then takes far more falls off the log's start. The engine says
/// which offsets are gone and how many messages that is (instead of librdkafka's silent reset), and goes on from the
/// earliest offset still there.
/// </summary>
public sealed partial class RetentionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Messages_deleted_before_they_were_read_are_reported_with_their_offsets()
    {
        using var folder = new TemporaryDirectory("streamengine-retention");
        var (kafka, bootstrap) = await KafkaServe.StartAdTopicsAsync(folder, partitions: 1, Patience);
        using var kafkaProcess = kafka;
        string[] run = ["run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", $"clickhouse.path={folder.File("clickhouse")}",
            "--set", "clickhouse.http.port=0", "--set", "log.format=text", "--until-idle", "2"];

        using (var generate = await StreamEngineCli.RunAsync(Patience, "generate", "--bootstrap", bootstrap, "--events", "2000", "--seed", "1"))
        {
            Assert.True(generate.ExitCode == 0, generate.StandardError);
        }

        using (var first = await StreamEngineCli.RunAsync(Patience, run))
        {
            Assert.True(first.ExitCode == 0, first.StandardError);
            Assert.DoesNotContain("deleted before they were read", first.StandardError, StringComparison.Ordinal);
        }

        // Far more than the partition keeps: the first run's checkpoint offset is deleted.
        using (var generate = await StreamEngineCli.RunAsync(Patience, "generate", "--bootstrap", bootstrap, "--events", "120000", "--seed", "2"))
        {
            Assert.True(generate.ExitCode == 0, generate.StandardError);
        }

        using var second = await StreamEngineCli.RunAsync(Patience, run);
        Assert.True(second.ExitCode == 0, second.StandardError);
        // One gap, reported once.
        var report = Assert.Single(Lost().Matches(second.StandardError));
        var (from, to, lost, next) = (long.Parse(report.Groups["from"].Value), long.Parse(report.Groups["to"].Value),
            long.Parse(report.Groups["lost"].Value.Replace(",", "")), long.Parse(report.Groups["next"].Value));
        // Resumed where the first run stopped; the range starts there, and what follows it was read.
        Assert.Matches($@"assigned partitions 0@{from} ", second.StandardError);
        Assert.Equal(to - from + 1, lost);
        Assert.True(next > to, $"{next} after {to}");
        Assert.Matches($@"stopped; {(122_000 - next).ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} messages read", second.StandardOutput);
        Assert.Contains(" warn: ", second.StandardError.Split('\n').First(l => l.Contains("deleted before they were read", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"offsets (?<from>\d+)\.\.(?<to>\d+) were deleted before they were read \(retention shorter than the lag\); (?<lost>[\d,]+) messages are lost, reading goes on from offset (?<next>\d+)")]
    private static partial Regex Lost();
}
