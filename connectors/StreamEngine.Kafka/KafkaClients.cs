using Confluent.Kafka;

namespace StreamEngine.Kafka;

/// <summary>Client configurations the engine uses, in one place.</summary>
public static class KafkaClients
{
    /// <summary>
    /// An idempotent, lz4-compressing producer tuned for throughput: large batches, a linger of 5 ms unless
    /// <paramref name="linger"/> says otherwise. A steady low rate wants a longer one (<see cref="PacedLinger"/>).
    /// <paramref name="compress"/> false sends batches as they are: for the embedded cluster, which keeps 5 MiB of
    /// batches per partition and walks them all to serve each fetch, so smaller batches only mean more to walk.
    /// </summary>
    public static IProducer<byte[], byte[]> HighThroughputProducer(string bootstrapServers, string clientId, TimeSpan? linger = null, bool compress = true)
    {
        Librdkafka.EnsureLoaded();
        var config = new ProducerConfig
        {
            BootstrapServers = bootstrapServers,
            ClientId = clientId,
            Acks = Acks.All,
            EnableIdempotence = true,
            CompressionType = compress ? CompressionType.Lz4 : CompressionType.None,
            LingerMs = linger is { } wait ? wait.TotalMilliseconds : 5,
            BatchSize = 1_000_000,
            QueueBufferingMaxMessages = 500_000,
            MessageTimeoutMs = 120_000,
        };
        return new ProducerBuilder<byte[], byte[]>(config).Build();
    }

    /// <summary>
    /// The linger for traffic sent at a steady rate (demo, generate --rate). With 5 ms, 2,000 events/s over 12
    /// partitions made batches of one or two messages, and the embedded cluster finds a fetch's offset by walking a
    /// partition's batches from the oldest (up to 5 MiB of them): its thread took most of a core after four minutes.
    /// 100 ms makes batches tens of times larger, and adds at most 100 ms between an event and the engine.
    /// </summary>
    public static readonly TimeSpan PacedLinger = TimeSpan.FromMilliseconds(100);

    /// <summary>Produces, waiting for the local queue to drain a little whenever it is full instead of failing.</summary>
    public static void ProduceWithBackPressure(IProducer<byte[], byte[]> producer, string topic, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>>? delivered = null) =>
        ProduceWithBackPressure(producer, p => p.Produce(topic, message, delivered));

    /// <summary>The same, to a chosen partition.</summary>
    public static void ProduceWithBackPressure(IProducer<byte[], byte[]> producer, TopicPartition partition, Message<byte[], byte[]> message) =>
        ProduceWithBackPressure(producer, p => p.Produce(partition, message));

    private static void ProduceWithBackPressure(IProducer<byte[], byte[]> producer, Action<IProducer<byte[], byte[]>> produce)
    {
        ArgumentNullException.ThrowIfNull(producer);
        while (true)
        {
            try
            {
                produce(producer);
                return;
            }
            catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(10));
            }
        }
    }
}
