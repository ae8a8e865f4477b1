using System.Text;
using Confluent.Kafka;
using StreamEngine.AdEvents;

namespace StreamEngine.TestUtilities;

/// <summary>
/// Generated ad traffic sent into a topic a part at a time, with the <c>ads.campaign_minute</c> rows it must give over
/// everything sent so far (<see cref="ExpectedRows"/>: the tests' reference over the topic read back, which the
/// generator's own bookkeeping must agree with).
/// </summary>
public sealed class GeneratedTraffic(EmbeddedKafkaFixture kafka, string topic, TrafficOptions options) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private readonly IEnumerator<GeneratedMessage> _messages = new TrafficGenerator(options).Messages().GetEnumerator();
    private readonly CampaignMinuteTruth _generatorTruth = new();
    private long _sent;

    /// <summary>
    /// The expected rows as the tab-separated lines of <see cref="CampaignMinuteQuery"/>, computed from what the topic
    /// holds; throws when the generator's truth says otherwise.
    /// </summary>
    public IReadOnlyList<string> ExpectedRows()
    {
        var truth = TopicTruth.Read(kafka.BootstrapServers, topic, _sent, Patience);
        using var generator = new MemoryStream();
        _generatorTruth.WriteJsonEachRow(generator);
        truth.AssertGeneratorAgrees(Encoding.UTF8.GetString(generator.ToArray()));
        return [.. truth.CampaignMinutes.Select(r => $"{r.WindowStartMs}\t{r.Campaign}\t{r.Bids}\t{r.Wins}\t{r.Impressions}\t{r.Clicks}\t{r.Conversions}\t{r.SpendMicros}")];
    }

    /// <summary>The columns <see cref="ExpectedRows"/> holds, from <c>campaign_minute</c> of <paramref name="database"/>.</summary>
    public static string CampaignMinuteQuery(string database) =>
        $"SELECT toUnixTimestamp(window_start) * 1000, campaign, bids, wins, impressions, clicks, conversions, spend_micros FROM {database}.campaign_minute ORDER BY 1, 2";

    /// <summary>Sends the next <paramref name="count"/> messages and waits until they are delivered.</summary>
    public void Produce(int count)
    {
        using var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build();
        for (var i = 0; i < count && _messages.MoveNext(); i++)
        {
            producer.Produce(topic, new Message<string, byte[]> { Key = _messages.Current.Key, Value = _messages.Current.Value });
            _generatorTruth.Add(_messages.Current);
            _sent++;
        }

        producer.Flush(Patience);
    }

    public void Dispose() => _messages.Dispose();
}
