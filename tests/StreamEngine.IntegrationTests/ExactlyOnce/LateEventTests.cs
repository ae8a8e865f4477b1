using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using StreamEngine.Kafka.Source;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>An event later than the allowed lateness goes to the late topic with its reason and origin, and into no result.</summary>
public sealed class LateEventTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Run_sends_a_too_late_event_to_the_late_topic_and_leaves_it_out_of_the_results()
    {
        var topic = kafka.CreateTopic("late-run", 1);
        kafka.Cluster.CreateTopic($"{topic}.late", 1);
        kafka.Cluster.CreateTopic($"{topic}.dlq", 1);
        var minute = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 60_000 * 60_000 - 30 * 60_000;
        string Event(string id, long ts, string campaign) =>
            $$"""{"v":2,"id":"{{id}}","type":"click","ts":{{ts}},"campaign":"{{campaign}}","ad":"a","placement":"s","publisher":"p"}""";
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "c1", Value = Event("e1", minute + 5_000, "c1") });
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "c2", Value = Event("e2", minute + 10 * 60_000, "c2") });
            // The watermark is now 10 min - 10 s past the first minute: this one is 6 min 10 s behind it, beyond 5 min.
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "c3", Value = Event("e3", minute + 10 * 60_000 - 10_000 - 5 * 60_000 - 70_000, "c3") });
        }

        using var folder = new TemporaryDirectory();
        var store = $"clickhouse.path={folder.Path}";
        using (var run = await StreamEngineCli.RunAsync(Patience, "run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={kafka.BootstrapServers}",
                   "--set", $"kafka.topic={topic}", "--set", store, "--set", "clickhouse.http.port=0", "--until-idle", "2"))
        {
            Assert.True(run.ExitCode == 0, run.StandardError);
            Assert.Contains("1 late", run.StandardOutput, StringComparison.Ordinal);
        }

        var late = Assert.Single(kafka.ReadToEnd($"{topic}.late", 1, Patience)); // read to the end: a second record would show
        Assert.Equal("c3", Encoding.UTF8.GetString(late.Key));
        using var json = JsonDocument.Parse(late.Value);
        Assert.Equal("c3", json.RootElement.GetProperty("campaign").GetString());
        Assert.Contains("allowed lateness", late.HeaderText(LateEventHeaders.Reason), StringComparison.Ordinal);
        Assert.Equal(topic, late.HeaderText(DeadLetterHeaders.SourceTopic));
        Assert.Equal("2", late.HeaderText(DeadLetterHeaders.SourceOffset));

        using var query = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, "SELECT campaign, clicks FROM ads.campaign_minute ORDER BY campaign");
        Assert.Equal("c1\t1\nc2\t1\n", query.StandardOutput);
    }

}
