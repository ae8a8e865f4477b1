using System.Diagnostics;
using System.Reactive.Linq;
using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;
using StreamEngine.Kafka;
using StreamEngine.Kafka.Embedded;
using StreamEngine.Kafka.Source;

namespace StreamEngine.Bench;

/// <summary>
/// Events per second from the embedded cluster through the Kafka source (consume + decode + dead-letter check)
/// into the core (dedup, 1-minute tumbling count and spend per campaign), beside two ceilings in the same run:
/// a raw Confluent.Kafka consume loop, and the same loop with the decoder.
/// </summary>
internal static class SourceThroughput
{
    private const int Partitions = 12;

    public static async Task<List<Measurement>> RunAsync(int repetitions, double scale)
    {
        var count = (int)(200_000 * scale); // the hottest campaign's partition reaches the mock's 5 MiB cap first
        using var cluster = EmbeddedKafkaCluster.Start(new EmbeddedKafkaOptions { Brokers = 3 });
        const string topic = "ad-events";
        cluster.CreateTopic(topic, Partitions);
        cluster.CreateTopic("ad-events.dlq", 1);
        Preload(cluster.BootstrapServers, topic, count);

        var results = new List<Measurement>();
        var cpu = new List<double>();
        results.Add(await Measurement.RateAsync($"raw consume loop, {count:N0} msgs", "msg/s", repetitions,
            _ => Task.FromResult(RawLoop(cluster.BootstrapServers, topic, count, decode: false)), "Confluent.Kafka, all partitions assigned, no processing"));
        results.Add(await Measurement.RateAsync("consume + decode loop", "msg/s", repetitions,
            _ => Task.FromResult(RawLoop(cluster.BootstrapServers, topic, count, decode: true)), "the same loop with the engine's decoder"));
        results.Add(await Measurement.RateAsync("engine: source -> decode -> dedup -> 1-min tumbling count+spend per campaign", "events/s", repetitions,
            async _ =>
            {
                var before = Process.GetCurrentProcess().TotalProcessorTime;
                var processed = await EngineAsync(cluster.BootstrapServers, topic, count);
                cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalMicroseconds / processed);
                return processed;
            }, "KafkaSource<AdEvent> + the core's DSL, consumer group, finals only"));
        results.Add(new Measurement("engine CPU per event (both cores)", "ns", cpu.Select(us => us * 1000).ToList(), "process CPU time / events"));
        return results;
    }

    private static void Preload(string bootstrap, string topic, int count)
    {
        using var producer = KafkaClients.HighThroughputProducer(bootstrap, "bench-preload");
        var generator = new TrafficGenerator(new TrafficOptions { Seed = 3, Campaigns = 1000, DuplicateFraction = 0.01, StartTimeMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000 });
        foreach (var message in generator.Messages().Take(count))
        {
            KafkaClients.ProduceWithBackPressure(producer, topic, new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(message.Key), Value = message.Value });
        }

        producer.Flush(TimeSpan.FromMinutes(2));
        TopicChecks.AssertNothingDropped(bootstrap, topic, Partitions, count);
        Console.Error.WriteLine($"  preloaded {count:N0} messages into {Partitions} partitions, none dropped");
    }

    private static long RawLoop(string bootstrap, string topic, int expected, bool decode)
    {
        var config = new ConsumerConfig { BootstrapServers = bootstrap, GroupId = $"raw-{Guid.NewGuid():N}", EnableAutoCommit = false, EnableAutoOffsetStore = false };
        config.Set("fetch.queue.backoff.ms", "100");
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var decoder = new AdEventDecoder(new SymbolTable());
        long read = 0, sum = 0;
        while (read < expected)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } result)
            {
                read++;
                if (decode && decoder.TryDecode(result.Message.Value, out var e, out _))
                {
                    sum += e.Campaign;
                }
            }
        }

        GC.KeepAlive(sum);
        return read;
    }

    private static async Task<long> EngineAsync(string bootstrap, string topic, int expected)
    {
        var symbols = new SymbolTable();
        await using var source = new KafkaSource<AdEvent>(
            new KafkaSourceOptions { BootstrapServers = bootstrap, GroupId = $"engine-{Guid.NewGuid():N}", Topic = topic }, FromTheBeginning.Instance, new AdEventFormat(symbols));
        long finals = 0;
        using var subscription = source.ToObservable()
            .WithEventTime(e => e.TimestampMs)
            .Deduplicate(e => e.Id)
            .KeyBy(e => e.Campaign)
            .Window(Core.Windowing.Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(Aggregators.Combine(Aggregators.Count<AdEvent>(), Aggregators.Sum<AdEvent>(e => e.SpendMicros)), new WindowOptions { EmitInterval = TimeSpan.Zero })
            .Subscribe(output => finals += output.Results.Count);
        while (source.Counters.MessagesIn < expected)
        {
            await Task.Delay(5);
        }

        GC.KeepAlive(finals);
        return source.Counters.MessagesIn;
    }
}
