using Confluent.Kafka;

namespace StreamEngine.Kafka;

/// <summary>Client configurations the engine uses, in one place.</summary>
public static class KafkaClients
{
    /// <summary>An idempotent, lz4-compressing producer tuned for throughput (large batches, a short linger).</summary>
    public static IProducer<byte[], byte[]> HighThroughputProducer(string bootstrapServers, string clientId)
    {
        Librdkafka.EnsureLoaded();
        var config = new ProducerConfig
        {
            BootstrapServers = bootstrapServers,
            ClientId = clientId,
            Acks = Acks.All,
            EnableIdempotence = true,
            CompressionType = CompressionType.Lz4,
            LingerMs = 5,
            BatchSize = 1_000_000,
            QueueBufferingMaxMessages = 500_000,
            MessageTimeoutMs = 120_000,
        };
        return new ProducerBuilder<byte[], byte[]>(config).Build();
    }

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
