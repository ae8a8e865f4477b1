using System.Text;
using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;
using StreamEngine.Kafka.Embedded;
using StreamEngine.Kafka.Source;
using StreamEngine.Runtime.Ports;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>
/// Side outputs (late and dead-letter records) are delivered with delivery reports: a record the broker refuses is
/// produced again, never dropped while the offsets move past it. The cluster's produce requests fail on purpose
/// (a permanent error: what retries inside the client do not cure), so this class has a cluster of its own.
/// </summary>
public sealed class SideOutputDeliveryTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public void Late_records_the_broker_refused_are_produced_again_and_a_flush_that_cannot_deliver_them_throws()
    {
        var topic = kafka.CreateTopic("late-refused", 1);
        var symbols = new SymbolTable();
        using var writer = new LateEventWriter<AdEvent>(kafka.BootstrapServers, topic, "ad-events", new AdEventFormat(symbols));
        kafka.Cluster.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);
        for (var i = 0; i < 10; i++)
        {
            writer.Write(Late(symbols, i));
        }

        writer.Flush(TimeSpan.FromSeconds(30));

        Assert.Equal(0, writer.Undelivered);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), Offsets(kafka.ReadAll(topic, 10, Patience)).Distinct().Order());

        // Refused for longer than the flush may wait: it says so instead of returning as if delivered.
        kafka.Cluster.PushRequestErrors(KafkaApiKey.Produce, [.. Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 500)]);
        writer.Write(Late(symbols, 10));
        Assert.Throws<SideOutputDeliveryException>(() => writer.Flush(TimeSpan.FromSeconds(2)));
        kafka.Cluster.ClearRequestErrors(KafkaApiKey.Produce);
        writer.Flush(TimeSpan.FromSeconds(30)); // the next checkpoint's flush delivers it
        Assert.Contains(10L, Offsets(kafka.ReadAll(topic, 11, Patience)));
    }

    [Fact]
    public async Task A_flush_waits_for_the_records_written_before_it_not_for_those_that_keep_coming_while_it_waits()
    {
        kafka.Cluster.ClearRequestErrors(KafkaApiKey.Produce);
        var topic = kafka.CreateTopic("late-stream", 1);
        var symbols = new SymbolTable();
        using var writer = new LateEventWriter<AdEvent>(kafka.BootstrapServers, topic, "ad-events", new AdEventFormat(symbols));
        for (var i = 0; i < 10; i++)
        {
            writer.Write(Late(symbols, i));
        }

        // A slow broker and a writer that never pauses: the client's queue is never empty while the flush waits
        // (a flood of dead letters on the poll thread while a checkpoint waits for those it covers).
        foreach (var broker in kafka.Cluster.BrokerIds)
        {
            kafka.Cluster.SetBrokerRoundTripTime(broker, TimeSpan.FromMilliseconds(300));
        }

        using var stop = new CancellationTokenSource();
        var stream = Task.Run(() =>
        {
            for (var i = 10; !stop.IsCancellationRequested; i++)
            {
                writer.Write(Late(symbols, i));
                Thread.Sleep(1);
            }
        });
        try
        {
            writer.Flush(TimeSpan.FromSeconds(20));
        }
        finally
        {
            await stop.CancelAsync();
            await stream;
            foreach (var broker in kafka.Cluster.BrokerIds)
            {
                kafka.Cluster.SetBrokerRoundTripTime(broker, TimeSpan.Zero);
            }
        }

        writer.Flush(TimeSpan.FromSeconds(30));
        Assert.Superset(Enumerable.Range(0, 10).Select(i => (long)i).ToHashSet(), Offsets(kafka.ReadToEnd(topic, 10, Patience)).ToHashSet());
    }

    [Fact]
    public async Task Dead_letters_the_broker_refused_are_produced_again_and_delivered_when_a_checkpoint_waits_for_them()
    {
        var topic = kafka.CreateTopic("dlq-refused", 1);
        var dlq = kafka.CreateTopic("dlq-refused-dlq", 1);
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            for (var i = 0; i < 20; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = "c", Value = i % 2 == 0 ? "not json" : Valid(i) });
            }

            producer.Flush(Patience);
        }

        kafka.Cluster.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);
        await using var source = await ReadUntilAsync(topic, dlq, events: 10);

        // Every dead letter is in the topic once the wait a checkpoint makes before it stores offsets returns.
        source.DeliverDeadLetters(TimeSpan.FromSeconds(30));
        var letters = kafka.ReadToEnd(dlq, 10, Patience);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)(2 * i)), letters.Select(m => long.Parse(Encoding.UTF8.GetString(m.Headers.GetLastBytes(DeadLetterHeaders.SourceOffset)), System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order());
        Assert.Equal(10, source.Counters.DeadLettered);
        Assert.True(source.Counters.TransientErrors > 0, "the refused deliveries should have been retried");
    }

    [Fact]
    public async Task The_wait_for_dead_letters_the_broker_keeps_refusing_fails_and_a_later_wait_delivers_them()
    {
        var topic = kafka.CreateTopic("dlq-down", 1);
        var dlq = kafka.CreateTopic("dlq-down-dlq", 1);
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            producer.Produce(topic, new Message<string, string> { Key = "c", Value = "not json" });
            producer.Produce(topic, new Message<string, string> { Key = "c", Value = Valid(1) });
            producer.Flush(Patience);
        }

        // Every produce refused from here (the dead letter's included) for longer than the checkpoint may wait.
        kafka.Cluster.PushRequestErrors(KafkaApiKey.Produce, [.. Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 500)]);
        try
        {
            await using var source = await ReadUntilAsync(topic, dlq, events: 1); // the batch is handed on at once
            Assert.Equal(1, source.Counters.DeadLettered);
            Assert.Throws<SideOutputDeliveryException>(() => source.DeliverDeadLetters(TimeSpan.FromSeconds(2)));

            kafka.Cluster.ClearRequestErrors(KafkaApiKey.Produce);
            source.DeliverDeadLetters(TimeSpan.FromSeconds(30));
            Assert.Equal([0L], Offsets(kafka.ReadToEnd(dlq, 1, Patience)));
        }
        finally
        {
            kafka.Cluster.ClearRequestErrors(KafkaApiKey.Produce);
        }
    }

    [Fact]
    public async Task A_message_too_large_to_dead_letter_whole_is_dead_lettered_truncated_and_says_so()
    {
        kafka.Cluster.ClearRequestErrors(KafkaApiKey.Produce);
        var topic = kafka.CreateTopic("dlq-large", 1);
        var dlq = kafka.CreateTopic("dlq-large-dlq", 1);
        var huge = new byte[700_000];
        Array.Fill(huge, (byte)'x');
        using (var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build())
        {
            producer.Produce(topic, new Message<string, byte[]> { Key = "c", Value = huge });
            producer.Produce(topic, new Message<string, byte[]> { Key = "c", Value = Encoding.UTF8.GetBytes(Valid(1)) });
            producer.Flush(Patience);
        }

        await using var source = await ReadUntilAsync(topic, dlq, events: 1); // the source goes on past the message

        var letter = Assert.Single(kafka.ReadToEnd(dlq, 1, Patience));
        Assert.Equal(DeadLetterHeaders.MaxValueBytes, letter.Value.Length);
        Assert.Equal("700000", Encoding.UTF8.GetString(letter.Headers.GetLastBytes(DeadLetterHeaders.TruncatedFrom)));
        Assert.Equal("too-large", Encoding.UTF8.GetString(letter.Headers.GetLastBytes(DeadLetterHeaders.Reason)));
    }

    /// <summary>Starts a source on <paramref name="topic"/> and waits until the pipeline behind it has <paramref name="events"/> events.</summary>
    private async Task<KafkaSource<AdEvent>> ReadUntilAsync(string topic, string dlq, int events)
    {
        var reader = new SourceReader();
        var source = new KafkaSource<AdEvent>(new KafkaSourceOptions
        {
            BootstrapServers = kafka.BootstrapServers, GroupId = $"dlq-{Guid.NewGuid():N}", Topic = topic, DeadLetterTopic = dlq,
        }, reader, new AdEventFormat(new SymbolTable()));
        source.Start();
        _ = reader.ReadAsync(source);
        var deadline = DateTime.UtcNow + Patience;
        while (reader.Events.Count < events)
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out: {reader.Events.Count} of {events} events handed on");
            await Task.Delay(50);
        }

        return source;
    }

    private static LateEvent<AdEvent> Late(SymbolTable symbols, long offset) => new(
        new AdEvent
        {
            Id = (UInt128)offset + 1, Type = AdEventType.Impression, TimestampMs = 1_790_000_000_000, Campaign = symbols.Intern("c1"), Ad = symbols.Intern("a1"),
            Placement = symbols.Intern("s1"), Publisher = symbols.Intern("p1"), Currency = Codes.Usd, PriceMicros = 1000, SourceOffset = offset,
        },
        0, 1_790_000_400_000, "event time is behind the watermark by more than the allowed lateness");

    private static IEnumerable<long> Offsets(IEnumerable<Message<byte[], byte[]>> messages) =>
        messages.Select(m => long.Parse(Encoding.UTF8.GetString(m.Headers.GetLastBytes(DeadLetterHeaders.SourceOffset)), System.Globalization.CultureInfo.InvariantCulture));

    private static string Valid(int i) =>
        $"{{\"v\":2,\"id\":\"ev-{i}\",\"type\":\"impression\",\"ts\":1790000000000,\"campaign\":\"c\",\"ad\":\"a\",\"placement\":\"s\",\"publisher\":\"p\",\"price_micros\":1000,\"currency\":\"USD\"}}";
}
