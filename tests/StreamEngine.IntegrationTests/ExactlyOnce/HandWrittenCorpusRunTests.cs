using System.Globalization;
using Confluent.Kafka;
using StreamEngine.Kafka.Source;
using StreamEngine.TestOracles;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>
/// The hand-written corpus (tests/StreamEngine.TestOracles/Corpora/campaign-minute-edges) end to end: its 33
/// messages in one partition of the embedded cluster, <c>streamengine run --job ad-metrics</c> into the embedded store;
/// <c>ads.campaign_minute</c> equals the rows computed by hand, the late topic holds exactly the lines judged late by
/// hand, the dead-letter topic exactly the refused lines, byte for byte, each with its reason.
/// </summary>
public sealed class HandWrittenCorpusRunTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task The_hand_written_corpus_gives_the_hand_computed_rows_late_records_and_dead_letters()
    {
        var corpus = HandWrittenCorpus.Load("campaign-minute-edges");
        var topic = kafka.CreateTopic("corpus", 1);
        kafka.Cluster.CreateTopic($"{topic}.late", 1);
        kafka.Cluster.CreateTopic($"{topic}.dlq", 1);
        using (var producer = new ProducerBuilder<Null, byte[]>(kafka.ProducerConfig()).Build())
        {
            foreach (var message in corpus.Messages)
            {
                await producer.ProduceAsync(topic, new Message<Null, byte[]> { Value = message });
            }
        }

        using var folder = new TemporaryDirectory();
        var store = $"clickhouse.path={folder.Path}";
        using (var run = await StreamEngineCli.RunAsync(Patience, "run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={kafka.BootstrapServers}",
                   "--set", $"kafka.topic={topic}", "--set", store, "--set", "clickhouse.http.port=0", "--until-idle", "2"))
        {
            Assert.True(run.ExitCode == 0, run.StandardError);
        }

        using var query = await StreamEngineCli.RunAsync(Patience, "query", "--set", store,
            "SELECT toUnixTimestamp(window_start) * 1000, campaign, bids, wins, impressions, clicks, conversions, spend_micros, unique_users " +
            "FROM ads.campaign_minute ORDER BY window_start, campaign");
        Assert.True(query.ExitCode == 0, query.StandardError);
        var rows = query.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t')).Select(f =>
            new ExpectedCampaignMinute(Long(f[0]), f[1], Long(f[2]), Long(f[3]), Long(f[4]), Long(f[5]), Long(f[6]), Long(f[7]), Long(f[8])));
        Assert.Equal(corpus.CampaignMinutes, rows);

        // Offsets are line numbers less one: the topic holds the corpus alone, in order.
        var lateLines = corpus.Verdicts.Select((v, i) => (v, i)).Where(x => x.v == "late").Select(x => x.i.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(lateLines, kafka.ReadToEnd($"{topic}.late", lateLines.Count(), Patience).Select(m => m.HeaderText(DeadLetterHeaders.SourceOffset)));
        var letters = kafka.ReadToEnd($"{topic}.dlq", corpus.RefusalReasons.Count(), Patience);
        Assert.Equal(corpus.MessagesJudged("refused").Select(Convert.ToHexString), letters.Select(m => Convert.ToHexString(m.Value)));
        Assert.Equal(corpus.RefusalReasons, letters.Select(m => m.HeaderText(DeadLetterHeaders.Reason)));

        using var events = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, "SELECT count(), uniqExact(event_id_hash) FROM ads.events");
        var counted = corpus.Verdicts.Count(v => v == "counted");
        Assert.Equal($"{counted}\t{counted}", events.StandardOutput.Trim());
    }

    private static long Long(string text) => long.Parse(text, CultureInfo.InvariantCulture);

}
