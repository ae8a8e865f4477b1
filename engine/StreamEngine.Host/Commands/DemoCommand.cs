using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.Core.AdEvents;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;
using StreamEngine.Kafka;
using StreamEngine.Kafka.Embedded;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine demo</c>: everything in one process on embedded defaults: the embedded Kafka cluster, the traffic
/// generator at a realistic rate, the ad-metrics job into the embedded ClickHouse (kept between runs) with its HTTP
/// endpoint, and a live summary, until Ctrl-C.
/// </summary>
public static class DemoCommand
{
    private const int EventsPerSecond = 2_000;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var parsed = Arguments.Parse("demo", args, "set", "config");
        parsed.ExpectPositionals(0, 0, "nothing");
        using var stopping = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        using var kafka = EmbeddedKafkaCluster.Start(new EmbeddedKafkaOptions
        {
            Brokers = 3,
            Topics = [new("ad-events", 12), new("ad-events.dlq", 3), new("ad-events.late", 3)],
        });
        var settings = EngineSettings.Load([.. parsed.All("set"), $"kafka.bootstrap={kafka.BootstrapServers}", "kafka.topic=ad-events"], configFile: parsed.Value("config"));
        if (settings["clickhouse.mode"] != "embedded")
        {
            throw new UsageException("demo: runs on embedded defaults; clickhouse.mode=server is for streamengine run");
        }

        var path = Path.GetFullPath(settings["clickhouse.path"]);
        using var clickHouse = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = path });
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse, new ClickHouseHttpOptions { Port = settings.Port("clickhouse.http.port") }, stopping.Token);
        var log = new List<string>();
        // The Kafka cluster is new and empty each time: positions stored by an earlier demo no longer apply (results stay).
        await using var store = new StreamEngine.ClickHouse.Stores.EmbeddedStore(clickHouse, ownsConnection: false);
        var pipeline = await JobCatalog.StartAsync(new AdMetricsJob(), settings, store, line => { lock (log) { log.Add(line); } }, forgetPositions: true, stopping.Token);
        using var generating = new CancellationTokenSource();
        var generator = Task.Run(() => Generate(kafka.BootstrapServers, generating.Token));

        await output.WriteLineAsync($"""
            StreamEngine demo (Ctrl-C stops)
              Kafka (embedded, in memory)   {kafka.BootstrapServers}   topics ad-events:12, ad-events.dlq:3, ad-events.late:3
              traffic generator             {EventsPerSecond:N0} events/s, 1% duplicates, 0.5% malformed
              job                           {pipeline.Description}
              ClickHouse (embedded)         data in {path} (kept between runs)
              ClickHouse HTTP               {endpoint.Url}

            Try, while it runs:
              curl '{endpoint.Url}?query=SELECT+campaign,sum(impressions)+AS+i,sum(spend_micros)+AS+spend+FROM+ads.campaign_minute+GROUP+BY+campaign+ORDER+BY+i+DESC+LIMIT+5+FORMAT+PrettyCompact'
              curl '{endpoint.Url}?query=SELECT+window_start,sum(bids),sum(impressions),sum(clicks)+FROM+ads.campaign_minute+GROUP+BY+window_start+ORDER+BY+window_start+DESC+LIMIT+5'
            and after it stops:
              ./streamengine query --set clickhouse.path={path} "SELECT * FROM ads.campaign_minute ORDER BY window_start DESC LIMIT 5" --format Pretty
            """);
        await output.FlushAsync();

        var running = pipeline.RunAsync(untilIdle: null, stopping.Token);
        var interactive = !Console.IsOutputRedirected;
        var watch = Stopwatch.StartNew();
        long lastEvents = 0;
        var lastReport = TimeSpan.Zero;
        while (!running.IsCompleted)
        {
            await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(interactive ? 1 : 10)));
            var status = pipeline.Status;
            var elapsed = watch.Elapsed;
            var rate = (status.Events - lastEvents) / Math.Max((elapsed - lastReport).TotalSeconds, 1e-9);
            (lastEvents, lastReport) = (status.Events, elapsed);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"[{elapsed:hh\\:mm\\:ss}] {rate,8:N0} events/s   {status.Events,12:N0} events   lag {status.Lag,6:N0}   late {status.Late:N0}   dead-lettered {status.DeadLettered:N0}   result rows {status.ResultRows:N0}   top: {TopCampaigns(clickHouse)}"));
        }

        await generating.CancelAsync();
        await generator;
        var failure = await running;
        await pipeline.DisposeAsync();
        await output.WriteLineAsync(failure is null ? $"demo stopped; results kept in {path}" : $"demo stopped: {failure.Message}");
        return failure is null ? 0 : 1;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stopping.Cancel();
        }
    }

    /// <summary>The campaigns with most impressions over the last five minutes of results.</summary>
    private static string TopCampaigns(EmbeddedClickHouse clickHouse)
    {
        try
        {
            var rows = clickHouse.QueryText(
                "SELECT campaign, sum(impressions) AS i FROM ads.campaign_minute WHERE window_start >= now() - INTERVAL 5 MINUTE " +
                "GROUP BY campaign ORDER BY i DESC LIMIT 3");
            return string.Join(", ", rows.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(r => r.Replace('\t', ' ')));
        }
        catch (StreamEngine.ClickHouse.ClickHouseException e)
        {
            return $"(query failed: {e.ErrorName})";
        }
    }

    /// <summary>Realistic traffic at <see cref="EventsPerSecond"/>, event time following the clock, until cancelled.</summary>
    private static void Generate(string bootstrap, CancellationToken cancellation)
    {
        using var producer = KafkaClients.HighThroughputProducer(bootstrap, "streamengine-demo");
        var generator = new TrafficGenerator(new TrafficOptions
        {
            Seed = Environment.TickCount,
            AuctionsPerSecond = EventsPerSecond / 1.4,
            DuplicateFraction = 0.01,
            MalformedFraction = 0.005,
        });
        TrafficSender.Send(producer, "ad-events", generator.Messages(), EventsPerSecond, cancellation);
        producer.Flush(TimeSpan.FromSeconds(10));
    }
}
