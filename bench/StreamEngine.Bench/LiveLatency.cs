using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;
using NATS.Client.Core;
using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;
using StreamEngine.Kafka;
using StreamEngine.Kafka.Embedded;
using StreamEngine.Nats;
using StreamEngine.Runtime;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench;

/// <summary>
/// Latency of live metrics: the ad-metrics job runs in this process (embedded Kafka and ClickHouse, exactly-once sink
/// and raw events on) with its NATS publisher (nats-server) and SignalR hub; traffic arrives at a set rate; a NATS
/// subscriber and a SignalR client (subscribed to the busiest campaigns) receive the campaign updates. For an update
/// saying a campaign's minute has N bids, its latency is the time since the N-th of those bids was handed to Kafka
/// (traffic without disorder or duplicates, so the N-th bid sent is the newest one the update includes).
/// </summary>
internal static class LiveLatency
{
    public static async Task<List<Measurement>> RunAsync(int[] rates, TimeSpan duration)
    {
        var results = new List<Measurement>();
        foreach (var rate in rates)
        {
            var (nats, signalR, clickHouse, achieved) = await MeasureAsync(rate, duration);
            var note = $"{achieved:N0} events/s sent for {duration.TotalSeconds:0} s, first 5 s left out; {nats.Count:N0} NATS and {signalR.Count:N0} SignalR updates";
            results.Add(Percentile($"event to NATS message, {rate:N0} events/s, p50", nats, 0.5, note));
            results.Add(Percentile($"event to NATS message, {rate:N0} events/s, p99", nats, 0.99, note));
            results.Add(Percentile($"event to SignalR client, {rate:N0} events/s, p50", signalR, 0.5, note));
            results.Add(Percentile($"event to SignalR client, {rate:N0} events/s, p99", signalR, 0.99, note));
            var stored = $"the engine's streamengine_end_to_end_latency_seconds: event time of a checkpoint's newest event to its results stored; {clickHouse.Count:N0} checkpoints of partitions";
            results.Add(Percentile($"event to results in ClickHouse, {rate:N0} events/s, p50", clickHouse, 0.5, stored));
            results.Add(Percentile($"event to results in ClickHouse, {rate:N0} events/s, p99", clickHouse, 0.99, stored));
        }

        return results;
    }

    private static Measurement Percentile(string name, List<double> latencies, double q, string note)
    {
        var sorted = latencies.Order().ToList();
        var value = sorted.Count == 0 ? double.NaN : sorted[(int)Math.Floor(q * (sorted.Count - 1))];
        Console.Error.WriteLine(FormattableString.Invariant($"  {name}: {value:N0} ms"));
        return new Measurement(name, "ms", [value], note);
    }

    private static async Task<(List<double> Nats, List<double> SignalR, List<double> ClickHouse, double Achieved)> MeasureAsync(int rate, TimeSpan duration)
    {
        using var kafka = EmbeddedKafkaCluster.Start(new EmbeddedKafkaOptions { Brokers = 1, Topics = [new("ad-events", 12), new("ad-events.dlq", 3), new("ad-events.late", 3)] });
        await using var natsServer = await NatsServerFixture.StartAsync(jetStream: false);
        using var folder = new TemporaryDirectory("streamengine-bench-latency");
        using var clickHouse = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = folder.Path });
        await using var store = new EmbeddedStore(clickHouse, ownsConnection: false);
        var settings = EngineSettings.Load([$"kafka.bootstrap={kafka.BootstrapServers}", $"nats.url={natsServer.Url}", .. (Environment.GetEnvironmentVariable("BENCH_SET") is { Length: > 0 } extra ? extra.Split(";") : [])], new Dictionary<string, string>());
        var running = new List<IRunningJob>();
        await using var http = await EngineHttpHost.StartAsync(new EngineHttpOptions { Port = 0 }, () => running);
        await using var publisher = new LivePublisher(settings.NatsOptions!);
        var pipeline = await JobCatalog.StartAsync(new AdMetricsJob(), settings, store, StreamEngine.Host.Observability.EngineLog.None, forgetPositions: true, CancellationToken.None, new LiveSinks([publisher, http.Fanout]));
        running.Add(pipeline);
        using var stop = new CancellationTokenSource();
        var runLoop = pipeline.RunAsync(null, stop.Token);

        // When each campaign minute's n-th bid was handed to Kafka (ticks of one clock for sender and receivers).
        var clock = Stopwatch.StartNew();
        var sentBids = new ConcurrentDictionary<(string Campaign, long Minute), List<long>>();
        var nats = new ConcurrentBag<double>();
        var signalR = new ConcurrentBag<double>();
        var warmUp = TimeSpan.FromSeconds(5);
        // Freshness in ClickHouse, as the engine measures it for /metrics.
        var stored = new ConcurrentBag<double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // By name: the instrument may be created (and published) while this very callback runs.
            if (instrument.Meter.Name == StreamEngine.Core.Telemetry.EngineTelemetry.Name && instrument.Name == "streamengine_end_to_end_latency_seconds")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, _, _) =>
        {
            if (clock.Elapsed > warmUp)
            {
                stored.Add(seconds * 1000);
            }
        });
        listener.Start();
        void Received(ConcurrentBag<double> into, JsonElement update)
        {
            var key = (update.GetProperty("campaign").GetString()!, update.GetProperty("window_start").GetDateTimeOffset().ToUnixTimeMilliseconds());
            var bids = update.GetProperty("bids").GetInt64();
            if (bids > 0 && clock.Elapsed > warmUp && sentBids.TryGetValue(key, out var times))
            {
                lock (times)
                {
                    if (bids <= times.Count)
                    {
                        into.Add((clock.ElapsedTicks - times[(int)bids - 1]) * 1000.0 / Stopwatch.Frequency);
                    }
                }
            }
        }

        await using var subscriber = new NatsConnection(new NatsOpts { Url = natsServer.Url });
        await using var natsSubscription = await subscriber.SubscribeCoreAsync<byte[]>("adtrack.metrics.campaign.>");
        var natsReader = Task.Run(async () =>
        {
            await foreach (var message in natsSubscription.Msgs.ReadAllAsync(stop.Token))
            {
                using var json = JsonDocument.Parse(message.Data!);
                Received(nats, json.RootElement);
            }
        });
        await using var hub = new HubConnectionBuilder().WithUrl(new Uri(http.Url, "hubs/metrics")).Build();
        hub.On<JsonElement>("metrics", update =>
        {
            if (update.TryGetProperty("bids", out _))
            {
                Received(signalR, update);
            }
        });
        await hub.StartAsync();
        foreach (var campaign in Enumerable.Range(1, 5).Select(i => $"cmp-{i:D4}"))
        {
            await hub.InvokeAsync("Subscribe", campaign);
        }

        using var producer = KafkaClients.HighThroughputProducer(kafka.BootstrapServers, "bench-latency");
        var generator = new TrafficGenerator(new TrafficOptions { Seed = 17, AuctionsPerSecond = rate / 1.4, MaxDisorder = TimeSpan.Zero });
        using var sending = new CancellationTokenSource(duration);
        long sent = 0;
        long delivered = 0;
        var sendWatch = Stopwatch.StartNew();
        await Task.Run(() => TrafficSender.Send(producer, "ad-events", generator.Messages(), rate, sending.Token, message =>
        {
            sent++;
            if (message.Type == AdEventType.Bid)
            {
                var times = sentBids.GetOrAdd((message.Campaign, message.TimestampMs / 60_000 * 60_000), _ => []);
                lock (times)
                {
                    times.Add(clock.ElapsedTicks);
                }
            }
        }, _ => Interlocked.Increment(ref delivered)));
        var achieved = sent / sendWatch.Elapsed.TotalSeconds;
        var behind = sent - pipeline.Status.MessagesIn;
        producer.Poll(TimeSpan.Zero); // serve the delivery reports due so far
        var undelivered = sent - Interlocked.Read(ref delivered);
        var drain = Stopwatch.StartNew();
        producer.Flush(TimeSpan.FromSeconds(30));
        while (pipeline.Status.MessagesIn < sent && drain.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(10);
        }

        Console.Error.WriteLine(FormattableString.Invariant(
            $"  when sending stopped: {undelivered:N0} messages not yet acknowledged by the broker, the job had read all but {behind:N0}; it read the rest in {drain.Elapsed.TotalMilliseconds:N0} ms"));
        await Task.Delay(TimeSpan.FromSeconds(3)); // the last updates
        await stop.CancelAsync();
        await runLoop;
        await pipeline.DisposeAsync();
        try
        {
            await natsReader;
        }
        catch (OperationCanceledException)
        {
        }

        return ([.. nats], [.. signalR], [.. stored], achieved);
    }
}
