using System.Collections.Concurrent;
using System.Text;
using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.Core.Events;
using StreamEngine.Kafka.Source;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>The Kafka source against the embedded cluster: dead letters, consumer groups, back-pressure.</summary>
public sealed class KafkaSourceTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static readonly long Now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static string Valid(int i, int version = 2) => version == 1
        ? $$"""{"v":1,"id":"e{{i}}","type":"click","ts":{{Now}},"campaign":"c{{i % 5}}","ad":"a","slot":"s","publisher":"p"}"""
        : $$"""{"v":2,"id":"e{{i}}","type":"click","ts":{{Now}},"campaign":"c{{i % 5}}","ad":"a","placement":"s","publisher":"p"}""";

    private static readonly (string Value, string Reason)[] Corpus =
    [
        ("{\"v\":2,\"id\":\"x\",\"type\":\"click\",\"ts\":", "malformed-json"),
        ("\u0000\u0001\u00ff binary", "malformed-json"),
        ("", "empty-message"),
        ("[]", "not-an-object"),
        ($$"""{"v":7,"id":"x","type":"click","ts":{{Now}},"campaign":"c","ad":"a","placement":"s","publisher":"p"}""", "unknown-version"),
        ($$"""{"v":2,"id":"x","type":"view","ts":{{Now}},"campaign":"c","ad":"a","placement":"s","publisher":"p"}""", "unknown-type"),
        ($$"""{"v":2,"id":"x","type":"click","ts":"{{Now}}","campaign":"c","ad":"a","placement":"s","publisher":"p"}""", "wrong-type"),
        ($$"""{"v":2,"id":"x","type":"click","ts":{{Now}},"ad":"a","placement":"s","publisher":"p"}""", "missing-field"),
        ($$"""{"v":2,"id":"x","type":"impression","ts":{{Now}},"campaign":"c","ad":"a","placement":"s","publisher":"p","price_micros":-5}""", "negative-price"),
        ($$"""{"v":2,"id":"{{new string('x', 300)}}","type":"click","ts":{{Now}},"campaign":"c","ad":"a","placement":"s","publisher":"p"}""", "invalid-id"),
        ($$"""{"v":2,"id":"x","type":"click","ts":{{Now + 86_400_000}},"campaign":"c","ad":"a","placement":"s","publisher":"p"}""", "ts-in-future"),
    ];

    [Fact]
    public async Task Every_malformed_message_goes_to_the_dead_letter_topic_with_its_reason_and_origin_and_the_source_keeps_going()
    {
        var topic = kafka.CreateTopic("source-dlq", 3);
        var dlq = kafka.CreateTopic("source-dlq.dlq", 1);
        var sent = new List<(string Value, string? Reason)>();
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            for (var round = 0; round < 3; round++)
            {
                foreach (var (value, reason) in Corpus)
                {
                    await producer.ProduceAsync(topic, new Message<string, string> { Key = $"k{round}", Value = value, Headers = [new Header("trace", "t1"u8.ToArray())] });
                    sent.Add((value, reason));
                    var valid = Valid(sent.Count, version: sent.Count % 2 + 1);
                    await producer.ProduceAsync(topic, new Message<string, string> { Key = $"k{round}", Value = valid });
                    sent.Add((valid, null));
                }
            }
        }

        var reader = new SourceReader();
        await using (var source = new KafkaSource<AdEvent>(Options(topic, dlq), reader, new AdEventFormat(new SymbolTable())))
        {
            source.Start();
            var reading = reader.ReadAsync(source);
            await Eventually(() => source.Counters.MessagesIn == sent.Count);
            var counters = source.Counters;
            Assert.Equal(counters.MessagesIn, counters.Decoded + counters.DeadLettered);
            Assert.Equal(sent.Count(s => s.Reason is null), counters.Decoded);
            Assert.Equal(sent.Count(s => s.Reason is not null), counters.DeadLettered);
        }

        var deadLetters = ReadAll(dlq, sent.Count(s => s.Reason is not null));
        var expected = sent.Where(s => s.Reason is not null).Select(s => (s.Value, s.Reason!)).Order().ToList();
        // The original value, byte for byte (the producer wrote the strings as UTF-8), with the reason the decoder gave.
        Assert.Equal(expected, deadLetters.Select(m => (Encoding.UTF8.GetString(m.Value ?? []), m.HeaderText(DeadLetterHeaders.Reason))).Order().ToList());
        Assert.All(deadLetters, m =>
        {
            Assert.Equal(topic, m.HeaderText(DeadLetterHeaders.SourceTopic));
            Assert.InRange(int.Parse(m.HeaderText(DeadLetterHeaders.SourcePartition), System.Globalization.CultureInfo.InvariantCulture), 0, 2);
            Assert.True(long.Parse(m.HeaderText(DeadLetterHeaders.SourceOffset), System.Globalization.CultureInfo.InvariantCulture) >= 0);
            Assert.False(string.IsNullOrEmpty(m.HeaderText(DeadLetterHeaders.Detail)));
            Assert.Equal("t1", m.HeaderText("trace"));
            Assert.StartsWith("k", Encoding.UTF8.GetString(m.Key), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Two_sources_in_a_group_split_the_partitions_and_a_rebalance_moves_them_without_loss_or_repeats()
    {
        const int partitions = 8;
        var topic = kafka.CreateTopic("source-group", partitions);
        var group = $"engine-{Guid.NewGuid():N}";
        var positions = new ConcurrentDictionary<int, long>(); // shared, as the sink's store is
        using var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build();
        var sent = 0;
        async Task Produce(int count)
        {
            for (var i = 0; i < count; i++, sent++)
            {
                producer.Produce(topic, new Message<string, string> { Key = $"c{sent % 40}", Value = Valid(sent, version: sent % 2 + 1) });
            }

            producer.Flush(Patience);
            await Task.CompletedTask;
        }

        var first = new SourceReader(positions);
        var second = new SourceReader(positions);
        var firstSource = new KafkaSource<AdEvent>(Options(topic, group: group), first, new AdEventFormat(new SymbolTable()));
        await using var secondSource = new KafkaSource<AdEvent>(Options(topic, group: group), second, new AdEventFormat(new SymbolTable()));
        firstSource.Start();
        secondSource.Start();
        var reading = Task.WhenAll(first.ReadAsync(firstSource), second.ReadAsync(secondSource));
        await Eventually(() => first.CurrentPartitions.Count > 0 && second.CurrentPartitions.Count > 0 &&
                               first.CurrentPartitions.Concat(second.CurrentPartitions).Order().SequenceEqual(Enumerable.Range(0, partitions)));

        await Produce(2000);
        await Eventually(() => first.Events.Count + second.Events.Count >= sent);
        Assert.NotEmpty(first.Events);
        Assert.NotEmpty(second.Events);
        Assert.Empty(first.Events.Select(e => e.Partition).Distinct().Intersect(second.Events.Select(e => e.Partition).Distinct()));

        await firstSource.DisposeAsync(); // leaves the group: the other takes every partition
        await Produce(2000);
        await Eventually(() => first.Events.Count + second.Events.Count >= sent);

        var ids = first.Events.Concat(second.Events).Select(e => e.Event.Id).ToList();
        Assert.Equal(sent, ids.Distinct().Count());
        Assert.Equal(sent, ids.Count); // resumed where the stored positions said: nothing read twice
        Assert.Equal(partitions, second.Signals.OfType<PartitionsAssigned>().SelectMany(a => a.Starts.Keys).Distinct().Count());
    }

    [Fact]
    public async Task A_slow_pipeline_pauses_the_partitions_instead_of_buffering_and_everything_still_arrives_in_order()
    {
        var topic = kafka.CreateTopic("source-slow", 2);
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            for (var i = 0; i < 6000; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = $"c{i % 7}", Value = Valid(i) });
            }

            producer.Flush(Patience);
        }

        var reader = new SourceReader();
        var options = Options(topic) with { MaxBufferedBatches = 2, MaxPollMessages = 200, StatisticsInterval = TimeSpan.FromMilliseconds(200) };
        await using var source = new KafkaSource<AdEvent>(options, reader, new AdEventFormat(new SymbolTable()));
        source.Start();
        var reading = reader.ReadAsync(source, delayPerBatch: TimeSpan.FromMilliseconds(15));

        long largestLag = 0;
        await Eventually(() =>
        {
            largestLag = Math.Max(largestLag, source.ConsumerLag.Values.DefaultIfEmpty(0).Max());
            return reader.Events.Count == 6000;
        });
        Assert.True(source.Counters.Pauses > 0, "the source should have paused while the pipeline was behind");
        Assert.True(largestLag > 0, "librdkafka's statistics should have shown the partitions' lag while the pipeline was behind");
        // Per partition the offsets handed over only grow: nothing skipped, nothing reordered.
        foreach (var partition in reader.Signals.OfType<EventsPolled<AdEvent>>().GroupBy(p => p.Batch.Partition))
        {
            var offsets = partition.Select(p => p.Batch.NextOffset).ToList();
            Assert.Equal(offsets.Order(), offsets);
        }
    }

    [Fact]
    public async Task An_unreachable_cluster_is_retried_not_fatal_and_secrets_are_masked()
    {
        var options = Options("nowhere") with
        {
            BootstrapServers = "127.0.0.1:1",
            ClientSettings = new Dictionary<string, string> { ["sasl.password"] = "hunter2", ["socket.timeout.ms"] = "1000" },
        };
        var logged = new ConcurrentQueue<string>();
        await using var source = new KafkaSource<AdEvent>(options, FromTheBeginning.Instance, new AdEventFormat(new SymbolTable()), logged.Enqueue);

        Assert.Equal("****", source.RedactedSettings["sasl.password"]);
        Assert.Equal("1000", source.RedactedSettings["socket.timeout.ms"]);
        source.Start();
        // The source has tried the cluster and said so (at least twice: it retries), and it still runs.
        var deadline = DateTime.UtcNow + Patience;
        while (logged.Count(line => line.Contains("127.0.0.1:1", StringComparison.Ordinal)) < 2 && !source.Completion.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the source never reported the unreachable cluster: {string.Join(" | ", logged)}");
            await Task.Delay(50);
        }

        Assert.False(source.Completion.IsCompleted, $"a cluster that is down is a transient condition: {source.Completion.Exception}");
        Assert.DoesNotContain(logged, line => line.Contains("hunter2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_rebalance_callback_that_fails_stops_the_source_with_its_reason()
    {
        var topic = kafka.CreateTopic("source-claim-fails", 2);
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = Valid(1) });
        }

        // The store could not record the claim (CheckpointStore.Claim times out, say): reading on without the claim
        // would be reading partitions nobody fenced, so the source must stop and say why.
        await using var source = new KafkaSource<AdEvent>(Options(topic), new FailingClaims(), new AdEventFormat(new SymbolTable()));
        source.Start();
        var failure = await Assert.ThrowsAsync<KafkaSourceException>(() => source.Completion.WaitAsync(Patience));
        Assert.Contains("the store did not answer the claim", failure.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, source.Counters.MessagesIn);
    }

    private sealed class FailingClaims : IResumePositions
    {
        public IReadOnlyDictionary<int, PartitionStart> Claim(string topic, IReadOnlyList<int> partitions) =>
            throw new TimeoutException("the store did not answer the claim");
    }

    private KafkaSourceOptions Options(string topic, string? dlq = null, string? group = null) => new()
    {
        BootstrapServers = kafka.BootstrapServers,
        GroupId = group ?? $"source-{Guid.NewGuid():N}",
        Topic = topic,
        DeadLetterTopic = dlq ?? $"{topic}.dlq",
    };


    private List<Message<byte[], byte[]>> ReadAll(string topic, int expected)
    {
        var messages = kafka.ReadToEnd(topic, expected, Patience);
        Assert.Equal(expected, messages.Count);
        return messages;
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(50);
        }
    }
}
