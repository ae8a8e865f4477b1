using Confluent.Kafka;
using StreamEngine.AdEvents;

namespace StreamEngine.TestUtilities;

/// <summary>
/// Generated ad traffic sent into a topic a part at a time, with the <c>ads.campaign_minute</c> rows it must give
/// (<see cref="Truth"/>, over everything sent so far).
/// </summary>
public sealed class GeneratedTraffic(EmbeddedKafkaFixture kafka, string topic, TrafficOptions options) : IDisposable
{
    private readonly IEnumerator<GeneratedMessage> _messages = new TrafficGenerator(options).Messages().GetEnumerator();

    public CampaignMinuteTruth Truth { get; } = new();

    /// <summary>The truth's rows as the tab-separated lines of <see cref="CampaignMinuteQuery"/>.</summary>
    public IEnumerable<string> ExpectedRows => Truth.Rows().Select(r => $"{r.WindowStartMs}\t{r.Campaign}\t{r.Bids}\t{r.Wins}\t{r.Impressions}\t{r.Clicks}\t{r.Conversions}\t{r.SpendMicros}");

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
            Truth.Add(_messages.Current);
        }

        producer.Flush(TimeSpan.FromMinutes(2));
    }

    public void Dispose() => _messages.Dispose();
}
