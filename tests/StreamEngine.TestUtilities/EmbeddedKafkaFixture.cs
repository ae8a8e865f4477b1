using Confluent.Kafka;
using StreamEngine.Kafka.Embedded;

namespace StreamEngine.TestUtilities;

/// <summary>
/// An embedded Kafka cluster (librdkafka's mock, in this process, on real loopback ports) for a test class, with
/// client configurations that suit it. Each test takes its own topics, so tests in a class do not interfere.
/// </summary>
public sealed class EmbeddedKafkaFixture : IDisposable
{
    private int _topicCounter;

    /// <summary>Three brokers, as xunit's class fixture.</summary>
    public EmbeddedKafkaFixture()
        : this(new EmbeddedKafkaOptions { Brokers = 3 })
    {
    }

    private EmbeddedKafkaFixture(EmbeddedKafkaOptions options)
    {
        Cluster = EmbeddedKafkaCluster.Start(options);
    }

    /// <summary>A cluster shaped by <paramref name="options"/>, for tests that need another one.</summary>
    public static EmbeddedKafkaFixture Start(EmbeddedKafkaOptions options) => new(options);

    public EmbeddedKafkaCluster Cluster { get; }

    public string BootstrapServers => Cluster.BootstrapServers;

    /// <summary>Creates a topic with a name no other test uses.</summary>
    public string CreateTopic(string prefix, int partitions)
    {
        var name = $"{prefix}-{Interlocked.Increment(ref _topicCounter)}-{Guid.NewGuid().ToString("N")[..8]}";
        Cluster.CreateTopic(name, partitions);
        return name;
    }

    /// <summary>An idempotent producer that waits for all in-sync replicas.</summary>
    public ProducerConfig ProducerConfig() => new()
    {
        BootstrapServers = BootstrapServers,
        Acks = Acks.All,
        EnableIdempotence = true,
        LingerMs = 5,
        MessageTimeoutMs = 60_000,
    };

    /// <summary>A consumer in <paramref name="groupId"/> using KIP-848 groups, which the mock rebalances quickly.</summary>
    public ConsumerConfig ConsumerConfig(string groupId)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = groupId,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        };
        config.Set("group.protocol", "consumer");
        // librdkafka's default of 1000 ms throttles every consumer on this cluster (DESIGN.md).
        config.Set("fetch.queue.backoff.ms", "100");
        return config;
    }

    /// <summary>
    /// Every record of the topic: once at least <paramref name="atLeast"/> are there (or <paramref name="patience"/> is
    /// up), each partition is read from its start to its high watermark, so more records than expected, and repeated
    /// ones, show as well as missing ones.
    /// </summary>
    public List<Message<byte[], byte[]>> ReadToEnd(string topic, int atLeast, TimeSpan patience)
    {
        var messages = new List<Message<byte[], byte[]>>();
        TopicReader.ReadToEnd(BootstrapServers, topic, atLeast, patience, record => messages.Add(record.Message));
        return messages;
    }

    /// <summary>
    /// Reads a topic from the beginning (a fresh group) until <paramref name="expected"/> messages arrived or
    /// <paramref name="patience"/> ran out, and returns them; the caller asserts on the count.
    /// </summary>
    public List<Message<byte[], byte[]>> ReadAll(string topic, int expected, TimeSpan patience)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(ConsumerConfig($"read-{Guid.NewGuid():N}")).Build();
        consumer.Subscribe(topic);
        var messages = new List<Message<byte[], byte[]>>();
        var deadline = DateTime.UtcNow + patience;
        while (messages.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                messages.Add(result.Message);
            }
        }

        consumer.Close();
        return messages;
    }

    public void Dispose() => Cluster.Dispose();
}
