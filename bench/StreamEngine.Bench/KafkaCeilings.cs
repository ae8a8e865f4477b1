using System.Diagnostics;
using Confluent.Kafka;
using StreamEngine.Kafka.Embedded;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench;

/// <summary>
/// Produce and consume rates of the embedded cluster (in this process, 3 brokers) for ~200-byte JSON events on
/// 12 partitions, uncompressed and lz4, and a raw read by Debian's kcat (another process) as the peer.
/// </summary>
internal static class KafkaCeilings
{
    private const int Partitions = 12;

    public static async Task<List<Measurement>> RunAsync(int repetitions, double scale)
    {
        var results = new List<Measurement>();
        using var cluster = EmbeddedKafkaCluster.Start(new EmbeddedKafkaOptions { Brokers = 3 });
        foreach (var (compression, count) in new[] { (CompressionType.None, (int)(200_000 * scale)), (CompressionType.Lz4, (int)(600_000 * scale)) })
        {
            var values = Enumerable.Range(0, count).Select(SampleEvents.Json).ToArray();
            var keys = Enumerable.Range(0, count).Select(i => System.Text.Encoding.UTF8.GetBytes(SampleEvents.Campaign(i))).ToArray();
            var topics = new List<string>();
            var label = compression.ToString().ToLowerInvariant();

            results.Add(await Measurement.RateAsync($"embedded Kafka produce, {label}, {count:N0} msgs", "msg/s", repetitions, async run =>
            {
                var topic = $"ceiling-{label}-{run}-{Guid.NewGuid():N}";
                cluster.CreateTopic(topic, Partitions);
                topics.Add(topic);
                Produce(cluster.BootstrapServers, topic, compression, keys, values);
                TopicChecks.AssertNothingDropped(cluster.BootstrapServers, topic, Partitions, count);
                return await Task.FromResult<long>(count);
            }, "Confluent.Kafka producer, acks=all, idempotent, linger 5 ms"));

            results.Add(await Measurement.RateAsync($"embedded Kafka consume (.NET), {label}", "msg/s", repetitions,
                run => Task.FromResult(Consume(cluster.BootstrapServers, topics[run % topics.Count], count)),
                "Confluent.Kafka consumer, all partitions assigned, fetch.queue.backoff.ms=100"));

            results.Add(await Measurement.RateAsync($"embedded Kafka consume (kcat), {label}", "msg/s", repetitions,
                async run => await ReadWithKcatAsync(cluster.BootstrapServers, topics[run % topics.Count], count),
                "Debian kcat 1.7.1 (its own librdkafka 2.0.2, default fetch settings) in another process, output counted by wc"));
        }

        return results;
    }

    private static void Produce(string bootstrap, string topic, CompressionType compression, byte[][] keys, byte[][] values)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 5,
            BatchSize = 1_000_000,
            CompressionType = compression,
            QueueBufferingMaxMessages = 2_000_000,
            QueueBufferingMaxKbytes = 2_000_000,
        };
        using var producer = new ProducerBuilder<byte[], byte[]>(config).Build();
        for (var i = 0; i < values.Length; i++)
        {
            while (true)
            {
                try
                {
                    producer.Produce(topic, new Message<byte[], byte[]> { Key = keys[i], Value = values[i] });
                    break;
                }
                catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(10));
                }
            }
        }

        if (producer.Flush(TimeSpan.FromMinutes(2)) > 0)
        {
            throw new InvalidOperationException("the producer could not deliver everything within two minutes");
        }
    }

    private static long Consume(string bootstrap, string topic, int expected)
    {
        var config = new ConsumerConfig { BootstrapServers = bootstrap, GroupId = $"ceiling-{Guid.NewGuid():N}", EnableAutoCommit = false, EnableAutoOffsetStore = false };
        config.Set("fetch.queue.backoff.ms", "100");
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        long read = 0;
        long bytes = 0;
        var deadline = Stopwatch.StartNew();
        while (read < expected)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(1));
            if (result?.Message is { } message)
            {
                read++;
                bytes += message.Value.Length;
            }

            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new InvalidOperationException($"read only {read} of {expected} in two minutes");
            }
        }

        GC.KeepAlive(bytes);
        return read;
    }

    private static async Task<long> ReadWithKcatAsync(string bootstrap, string topic, int expected)
    {
        // kcat writes one line per message into wc, so neither this process nor its pipes are in the measurement.
        var command = $"{RequiredTool.Find("kcat")} -C -b {bootstrap} -t {topic} -o beginning -e -q -c {expected} -f '%o\\n' | wc -l";
        using var kcat = await ChildProcess.RunAsync("/bin/bash", ["-c", command], TimeSpan.FromMinutes(2));
        var lines = long.Parse(kcat.StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return kcat.ExitCode == 0 && lines == expected ? expected : throw new InvalidOperationException($"kcat read {lines} of {expected} messages: {kcat.StandardError}");
    }
}
