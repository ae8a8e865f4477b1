using System.Text;
using Confluent.Kafka;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>A second OS process, Debian's kcat, uses the embedded cluster like any Kafka cluster.</summary>
public sealed class KcatInteropTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Kcat_lists_brokers_and_topics_from_metadata()
    {
        var topic = kafka.CreateTopic("kcat-metadata", 6);

        using var kcat = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", kafka.BootstrapServers, "-L", "-J"], Timeout);

        Assert.Equal(0, kcat.ExitCode);
        using var metadata = System.Text.Json.JsonDocument.Parse(kcat.StandardOutput);
        var brokers = metadata.RootElement.GetProperty("brokers").EnumerateArray().Select(b => b.GetProperty("id").GetInt32()).Order().ToArray();
        Assert.Equal([1, 2, 3], brokers);
        var listed = metadata.RootElement.GetProperty("topics").EnumerateArray().Single(t => t.GetProperty("topic").GetString() == topic);
        Assert.Equal(6, listed.GetProperty("partitions").GetArrayLength());
    }

    [Fact]
    public async Task Messages_produced_by_kcat_are_consumed_by_dotnet_with_keys_intact()
    {
        var topic = kafka.CreateTopic("kcat-produce", 4);
        var lines = Enumerable.Range(0, 200).Select(i => $"campaign-{i % 7}:event-{i}").ToArray();

        using var kcat = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", kafka.BootstrapServers, "-t", topic, "-P", "-K", ":", "-z", "lz4"], Timeout, string.Join('\n', lines) + "\n");
        Assert.True(kcat.ExitCode == 0, kcat.StandardError);

        var received = ConsumeAll(topic, lines.Length);
        Assert.Equal(lines.Order(StringComparer.Ordinal), received.Select(r => $"{r.Key}:{r.Value}").Order(StringComparer.Ordinal));
        // One key, one partition: what Kafka's key hashing promises and the engine's scale-out relies on.
        Assert.All(received.GroupBy(r => r.Key), g => Assert.Single(g.Select(r => r.Partition).Distinct()));
    }

    [Fact]
    public async Task Messages_produced_by_dotnet_are_consumed_by_kcat()
    {
        var topic = kafka.CreateTopic("kcat-consume", 3);
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            for (var i = 0; i < 150; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = $"k{i % 5}", Value = $"v{i}" });
            }

            producer.Flush(Timeout);
        }

        using var kcat = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", kafka.BootstrapServers, "-t", topic, "-C", "-e", "-q", "-f", "%k=%s\\n"], Timeout);

        Assert.True(kcat.ExitCode == 0, kcat.StandardError);
        var consumed = kcat.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 150).Select(i => $"k{i % 5}=v{i}").Order(StringComparer.Ordinal), consumed.Order(StringComparer.Ordinal));
    }

    private List<(string Key, string Value, int Partition)> ConsumeAll(string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<string, string>(kafka.ConsumerConfig($"g-{Guid.NewGuid():N}")).Build();
        consumer.Subscribe(topic);
        var received = new List<(string, string, int)>();
        var deadline = DateTime.UtcNow + Timeout;
        while (received.Count < expected && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is not null)
            {
                received.Add((result.Message.Key, result.Message.Value, result.Partition.Value));
            }
        }

        consumer.Close();
        return received;
    }
}
