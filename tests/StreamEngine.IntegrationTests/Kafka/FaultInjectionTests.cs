using Confluent.Kafka;
using StreamEngine.Kafka.Embedded;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>The embedded cluster's fault injection, and that clients lose nothing through the faults.</summary>
public sealed class FaultInjectionTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_broker_taken_down_and_brought_back_loses_nothing()
    {
        var topic = kafka.CreateTopic("broker-down", 6);
        var values = Enumerable.Range(0, 3000).Select(i => $"e{i}").ToArray();
        using var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build();
        var deliveries = new List<Task<DeliveryResult<string, string>>>();

        for (var i = 0; i < values.Length; i++)
        {
            if (i == 1000)
            {
                // Leaders do not move: partitions led by broker 2 stall until it is back, and the producer retries.
                kafka.Cluster.SetBrokerDown(2);
            }

            if (i == 2000)
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
                kafka.Cluster.SetBrokerUp(2);
            }

            deliveries.Add(producer.ProduceAsync(topic, new Message<string, string> { Key = $"c{i % 50}", Value = values[i] }));
        }

        var results = await Task.WhenAll(deliveries).WaitAsync(Patience);
        Assert.All(results, r => Assert.Equal(PersistenceStatus.Persisted, r.Status));

        // Nothing lost (repeats after a dropped connection are possible on the mock; see the next test).
        var consumed = ReadEverything(topic, values.Length);
        Assert.Equal(values.Order(StringComparer.Ordinal), consumed.Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Injected_produce_errors_are_retried_without_loss()
    {
        var topic = kafka.CreateTopic("produce-errors", 3);
        kafka.Cluster.PushRequestErrors(KafkaApiKey.Produce,
            ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas, ErrorCode.Local_Transport);
        using var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build();

        var values = Enumerable.Range(0, 500).Select(i => $"p{i}").ToArray();
        var results = await Task.WhenAll(values.Select(v => producer.ProduceAsync(topic, new Message<string, string> { Key = v, Value = v }))).WaitAsync(Patience);

        Assert.All(results, r => Assert.Equal(PersistenceStatus.Persisted, r.Status));
        // Every message is there. A dropped connection (Local_Transport) can lose an acknowledgement, and the mock
        // does not always drop the retried batch as a real broker's idempotence would (seen here: a few repeats),
        // so repeats are allowed; they are what the engine's dedup by event id exists for.
        Assert.Equal(values.Order(StringComparer.Ordinal), ReadEverything(topic, values.Length).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Moving_partition_leaders_mid_stream_loses_nothing()
    {
        var topic = kafka.CreateTopic("leader-move", 4);
        using var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build();
        var deliveries = new List<Task<DeliveryResult<string, string>>>();
        for (var i = 0; i < 2000; i++)
        {
            if (i % 500 == 250)
            {
                var partition = i / 500;
                kafka.Cluster.SetPartitionLeader(topic, partition, (partition + i / 250) % 3 + 1);
            }

            deliveries.Add(producer.ProduceAsync(topic, new Message<string, string> { Key = $"k{i % 17}", Value = $"v{i}" }));
        }

        await Task.WhenAll(deliveries).WaitAsync(Patience);
        var consumed = ReadEverything(topic, 2000);
        Assert.Equal(Enumerable.Range(0, 2000).Select(i => $"v{i}").Order(StringComparer.Ordinal), consumed.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Faults_name_brokers_that_exist()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => kafka.Cluster.SetBrokerDown(9));
        Assert.Contains("1..3", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Reads the topic from the start until <paramref name="expected"/> messages or the patience runs out.</summary>
    private List<string> ReadEverything(string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<string, string>(kafka.ConsumerConfig($"reader-{Guid.NewGuid():N}")).Build();
        consumer.Subscribe(topic);
        var values = new List<string>();
        var deadline = DateTime.UtcNow + Patience;
        while (values.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                values.Add(result.Message.Value);
            }
        }

        // Anything beyond the expected count would be a duplicate: give it a moment to show up.
        var grace = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        while (DateTime.UtcNow < grace)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false } extra)
            {
                values.Add(extra.Message.Value);
            }
        }

        consumer.Close();
        return values;
    }
}
