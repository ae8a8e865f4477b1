using Confluent.Kafka;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>
/// Consumer groups on the embedded cluster with KIP-848 (<c>group.protocol=consumer</c>): the engine's scale-out.
/// </summary>
public sealed class ConsumerGroupTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Two_consumers_split_the_partitions_and_one_takes_over_when_the_other_leaves()
    {
        const int partitions = 12;
        var topic = kafka.CreateTopic("group-split", partitions);
        var group = $"group-{Guid.NewGuid():N}";
        using var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build();
        var sent = new List<string>();
        void Produce(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var value = $"m{sent.Count}";
                producer.Produce(topic, new Message<string, string> { Key = $"campaign-{sent.Count % 40}", Value = value });
                sent.Add(value);
            }

            producer.Flush(Patience);
        }

        Produce(600);
        using var first = new ConsumerLoop(kafka.ConsumerConfig(group), topic, "first");
        using var second = new ConsumerLoop(kafka.ConsumerConfig(group), topic, "second");

        await Eventually(() => first.AssignedPartitions.Count > 0 && second.AssignedPartitions.Count > 0 &&
                               first.AssignedPartitions.Count + second.AssignedPartitions.Count == partitions,
            "both consumers to hold partitions", first, second);
        Assert.Empty(first.AssignedPartitions.Intersect(second.AssignedPartitions));
        Assert.Equal(Enumerable.Range(0, partitions), first.AssignedPartitions.Union(second.AssignedPartitions).Order());

        await Eventually(() => first.Received.Count + second.Received.Count >= sent.Count, "the first messages to be read", first, second);
        first.Leave();
        await Eventually(() => second.AssignedPartitions.Count == partitions, "the second consumer to take every partition", first, second);

        Produce(600);
        var everything = sent.ToHashSet(StringComparer.Ordinal);
        await Eventually(() => everything.IsSubsetOf(first.Received.Select(r => r.Value).Concat(second.Received.Select(r => r.Value))),
            "every message to be read by one of them", first, second);
        // Partitions changed hands, but within a partition each offset was read by one consumer only: commits held.
        var readTwice = first.Received.Concat(second.Received).GroupBy(r => (r.Partition, r.Offset)).Where(g => g.Count() > 1).ToList();
        Assert.Empty(readTwice);
    }

    private static async Task Eventually(Func<bool> condition, string what, params ConsumerLoop[] consumers)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                var state = string.Join("; ", consumers.Select(c => $"{c.Name}: partitions [{string.Join(',', c.AssignedPartitions)}], read {c.Received.Count}, errors [{string.Join(" | ", c.Errors)}]"));
                Assert.Fail($"timed out waiting for {what} ({state})");
            }

            await Task.Delay(100);
        }
    }
}
