using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Spectre.Console;
using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.Host.Cli;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Host.Security;
using StreamEngine.Jobs;
using StreamEngine.Kafka;
using StreamEngine.Kafka.Embedded;
using StreamEngine.Runtime;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine demo</c>: everything in one process on embedded defaults: the embedded Kafka cluster, the traffic
/// generator at a realistic rate, the three jobs (ad-metrics, bid-landscape, dynamic-pricing) into the embedded
/// ClickHouse (kept between runs) with its HTTP endpoint, and a live one-screen summary, until Ctrl-C.
/// </summary>
public static class DemoCommand
{
    private const int EventsPerSecond = 2_000;
    private static readonly TimeSpan StoredEvery = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var port = CliOptions.OptionalWholeNumber("demo", "--port", "the dashboard's port (http.port; default 5000, 0 picks a free one)", 0, 65_535);
        var config = CliOptions.Config();
        var set = CliOptions.Set();
        var command = new Command("demo",
            "everything on embedded defaults: Kafka, traffic, the ad-metrics job, ClickHouse and its HTTP endpoint, with a live summary (Ctrl-C stops; results are kept)")
            { port, config, set };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(port), parse.GetValue(config), parse.GetValue(set) ?? [], Console.Out));
        return command;
    }

    public static async Task<int> RunAsync(int? httpPort, string? configFile, IReadOnlyList<string> set, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(output);
        using var stopping = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        using var kafka = EmbeddedKafkaCluster.Start(new EmbeddedKafkaOptions
        {
            Brokers = 3,
            Topics = [new("ad-events", 12), new("ad-events.dlq", 3), new("ad-events.late", 3)],
        });
        var settings = EngineSettings.Load(
            [.. set, .. httpPort is { } port ? [$"http.port={port}"] : Array.Empty<string>(), $"kafka.bootstrap={kafka.BootstrapServers}", "kafka.topic=ad-events"],
            configFile: configFile);
        if (settings["clickhouse.mode"] != "embedded")
        {
            throw new UsageException("demo: runs on embedded defaults; clickhouse.mode=server is for streamengine run");
        }

        var path = Path.GetFullPath(settings["clickhouse.path"]);
        using var clickHouse = EmbeddedClickHouse.Connect(settings.ClickHouse.EmbeddedOptions);
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse, settings.ClickHouseHttpOptions(path), stopping.Token);
        var log = new List<string>();
        void Log(string line)
        {
            lock (log)
            {
                log.Add(line);
            }
        }

        // The Kafka cluster is new and empty each time: positions stored by an earlier demo no longer apply (results stay).
        await using var store = new StreamEngine.ClickHouse.Stores.EmbeddedStore(clickHouse, ownsConnection: false);
        await using var services = await EngineServices.StartAsync(settings, settings.HttpOptions with { Results = settings.ResultsApiOptions(store) }, stopping.Token);
        foreach (var job in JobCatalog.BuiltIn)
        {
            services.Add(await JobCatalog.StartAsync(job, settings, store, EngineLog.To(Log), forgetPositions: true, stopping.Token, services.Live));
        }

        services.Add(await JobCatalog.StartAsync(DynamicPricing.Name, null, settings, store, EngineLog.To(Log), stopping.Token, services.Live));
        var traffic = DemoTraffic(Environment.TickCount);
        await SetDemoBudgetsAsync(store, settings["clickhouse.database"], traffic);
        var (jobs, http, nats) = (services.Jobs, services.Http, services.Nats);
        using var generating = new CancellationTokenSource();
        var generator = Task.Run(() => Generate(kafka.BootstrapServers, traffic, generating.Token));

        var url = endpoint.Url;
        // Nobody gets in without a password: the data folder's generated admin, unless users are configured.
        var (who, login) = settings.HasClickHouseHttpUsers
            ? ("users from clickhouse.http.users.*", "-u USER:PASSWORD")
            : ($"user admin, password in {AdminCredentials.PathIn(path)}", $"-u \"admin:$(cat {AdminCredentials.PathIn(path)})\"");
        await output.WriteLineAsync($"""
            StreamEngine demo (Ctrl-C stops)
              Kafka (embedded, in memory)   {kafka.BootstrapServers}   topics ad-events:12, ad-events.dlq:3, ad-events.late:3
              traffic generator             {EventsPerSecond:N0} events/s, 1% duplicates, 0.5% malformed
              jobs                          {string.Join(Environment.NewLine + new string(' ', 32), jobs.Select(j => j.Description))}
              ClickHouse (embedded)         data in {path} (kept between runs)
              ClickHouse HTTP               {url}   ({who})
              dashboard (ad ops)            {http.Url}   (read API: {http.Url}api/v1/overview)
              metrics and health            {http.Url}metrics   {http.Url}healthz   {http.Url}readyz
              live metrics (SignalR)        {http.Url}hubs/metrics   (Subscribe(campaign), SubscribeSlot(slot); pushes "metrics" and "alert")
              live metrics (NATS)           {(nats is null ? "off (set nats.url=nats://HOST:4222 to publish adtrack.metrics.*, adtrack.pricing.*, adtrack.alerts.pacing)" : settings["nats.url"])}

            Try, while it runs:
              curl {login} '{url}?query=SELECT+campaign,sum(impressions)+AS+i,sum(spend_micros)+AS+spend+FROM+ads.campaign_minute+GROUP+BY+campaign+ORDER+BY+i+DESC+LIMIT+5+FORMAT+PrettyCompact'
              curl {login} '{url}?query=SELECT+window_start,slot,bids,win_rate,bid_p50_micros,clearing_p90_micros+FROM+ads.slot_minute+ORDER+BY+window_start+DESC,bids+DESC+LIMIT+5+FORMAT+PrettyCompact'
              curl {login} '{url}?query=SELECT+window_start,slot,recommended_floor_micros,confidence,status+FROM+ads.floor_recommendation+ORDER+BY+window_start+DESC+LIMIT+5+FORMAT+PrettyCompact'
              curl {login} '{url}?query=SELECT+campaign,argMax(status,window_start)+AS+s,argMax(pace_ratio,window_start)+AS+pace+FROM+ads.campaign_pacing+GROUP+BY+campaign+ORDER+BY+pace+DESC+LIMIT+5+FORMAT+PrettyCompact'
            and after it stops:
              ./streamengine query --set clickhouse.path={path} "SELECT * FROM ads.campaign_minute ORDER BY window_start DESC LIMIT 5" --format Pretty
            """);
        await output.FlushAsync();

        // The same runtime as streamengine run: every job until Ctrl-C or a failure, then each drains.
        var run = JobHost.RunAsync(jobs, new JobRunOptions { ShutdownTimeout = settings.Duration("shutdown.timeout") }, stopping.Token);
        // On a terminal the summary is one screen redrawn in place (Spectre.Console's live display); redirected, its
        // first line every 10 s, for logs.
        var interactive = !Console.IsOutputRedirected;
        var watch = Stopwatch.StartNew();
        long lastEvents = 0;
        var lastReport = TimeSpan.Zero;
        string? stored = null;
        var storedAt = TimeSpan.Zero;
        async Task ReportUntilStoppedAsync(Action<string> show)
        {
            while (!run.IsCompleted)
            {
                await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(interactive ? 1 : 10)));
                var status = jobs[0].Status; // ad-metrics reads every event
                var elapsed = watch.Elapsed;
                var rate = (status.Events - lastEvents) / Math.Max((elapsed - lastReport).TotalSeconds, 1e-9);
                (lastEvents, lastReport) = (status.Events, elapsed);
                // The store's lines at most every 10 s: read every second, their five queries (pacing's over the whole
                // day) were a good part of what the demo cost once it had run a few minutes. Redirected, only the first line.
                if (interactive && (stored is null || elapsed - storedAt >= StoredEvery))
                {
                    (stored, storedAt) = (Stored(clickHouse), elapsed);
                }

                var headline = Headline(elapsed, rate, status, jobs);
                show(stored is null ? headline : headline + Environment.NewLine + stored);
                if (generator.IsCompleted && !stopping.IsCancellationRequested)
                {
                    // Without its traffic the demo shows nothing: stop, and say why, rather than run on silently.
                    await Console.Error.WriteLineAsync($"streamengine demo: the traffic generator stopped{(generator.Exception?.InnerException is { } e ? $": {e}" : "")}");
                    await stopping.CancelAsync();
                }
            }
        }

        if (interactive)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
            await console.Live(new Text("starting...")).StartAsync(async live => await ReportUntilStoppedAsync(summary =>
            {
                live.UpdateTarget(new Text(summary));
                live.Refresh();
            }));
        }
        else
        {
            await ReportUntilStoppedAsync(summary =>
            {
                output.WriteLine(summary);
                output.Flush();
            });
        }

        await generating.CancelAsync();
        string? generatorFailure = null;
        try
        {
            await generator;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            generatorFailure = e.Message;
        }

        var outcome = await run;
        await output.WriteLineAsync(outcome switch
        {
            { Failure: { } failure } => $"demo stopped: job {outcome.FailedJob}: {failure.Message}",
            { DrainTimedOut: true } => $"demo stopped: the jobs did not drain within shutdown.timeout; results kept in {path} up to their last checkpoints",
            _ => $"demo stopped; results kept in {path}",
        });
        // A non-zero exit says why on standard error, in one line, as every command's does.
        var why = outcome switch
        {
            { Failure: { } failure } => $"job {outcome.FailedJob} failed: {failure.Message}",
            { DrainTimedOut: true } => "the jobs did not drain within shutdown.timeout",
            _ when generatorFailure is not null => $"the traffic generator failed: {generatorFailure}",
            _ => null,
        };
        if (why is not null)
        {
            await Console.Error.WriteLineAsync($"streamengine demo: {why.ReplaceLineEndings(" ")}");
        }

        return why is null ? 0 : 1;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stopping.Cancel();
        }
    }

    /// <summary>The summary's first line, complete on its own (for logs): from the jobs' counters, no query.</summary>
    private static string Headline(TimeSpan elapsed, double rate, PipelineStatus status, IReadOnlyList<IRunningJob> jobs) =>
        string.Create(CultureInfo.InvariantCulture,
            $"""[{elapsed:hh\:mm\:ss}] {rate,8:N0} events/s   {status.Events,12:N0} events   lag {status.Lag,6:N0}   late {status.Late:N0}   dead-lettered {status.DeadLettered:N0}   result rows {jobs.Sum(j => j.Status.ResultRows):N0}""");

    /// <summary>The summary's other five lines, read from the store.</summary>
    private static string Stored(EmbeddedClickHouse clickHouse) =>
        string.Create(CultureInfo.InvariantCulture, $"""
              top campaigns (impressions, last 5 min)   {Top(clickHouse, "SELECT campaign, sum(impressions) AS i FROM ads.campaign_minute WHERE window_start >= now() - INTERVAL 5 MINUTE GROUP BY campaign ORDER BY i DESC LIMIT 3")}
              busiest slots (bids, last minute)          {Top(clickHouse, "SELECT slot, bids FROM ads.slot_minute WHERE window_start >= now() - INTERVAL 2 MINUTE ORDER BY window_start DESC, bids DESC LIMIT 3")}
              recommended floors (CPM micros)            {Top(clickHouse, "SELECT slot, round(recommended_floor_micros) FROM ads.floor_recommendation WHERE window_start >= now() - INTERVAL 10 MINUTE AND recommended_floor_micros IS NOT NULL ORDER BY window_start DESC, samples DESC LIMIT 3")}
              pacing (campaign status pace)             {Top(clickHouse, PacingToday)}
              pacing alerts today                        {Top(clickHouse, "SELECT status, count() FROM ads.pacing_alerts WHERE window_start >= today() GROUP BY status ORDER BY status")}

            """);

    /// <summary>Each campaign's newest status and pace today, from today's rows only (<see cref="DynamicPricing.PacingRows"/>).</summary>
    private static readonly string PacingToday =
        "SELECT campaign, s, round(p, 2) FROM (SELECT campaign, argMax(status, window_start) AS s, argMax(pace_ratio, window_start) AS p FROM (" +
        DynamicPricing.PacingRows("ads", "now('UTC')") + ") WHERE window_start >= toStartOfDay(now('UTC'), 'UTC') GROUP BY campaign) ORDER BY p DESC LIMIT 3";

    /// <summary>
    /// Daily budgets for the generator's campaigns, sized from the traffic the demo is about to send (and what the
    /// store holds for today already) so pacing has something to say: some over, some on pace, some under, one
    /// exhausted late (<see cref="DemoBudgets"/>).
    /// </summary>
    private static async Task SetDemoBudgetsAsync(StreamEngine.ClickHouse.Stores.EmbeddedStore store, string database, TrafficOptions traffic)
    {
        var db = StreamEngine.ClickHouse.Stores.ClickHouseSql.Identifier(database);
        var spentToday = (await store.QueryAsync($"SELECT campaign, sum(spend_micros) FROM {db}.campaign_minute WHERE toDate(window_start) = toDate(now('UTC')) GROUP BY campaign"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(f => f[0], f => long.Parse(f[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);
        var budgets = DemoBudgets.Plan(DemoBudgets.SpendPerSecond(traffic, TimeSpan.FromMinutes(2)), spentToday, DateTimeOffset.UtcNow);
        await store.ExecuteAsync($"INSERT INTO {db}.{DynamicPricing.BudgetTable} (campaign, daily_budget_micros) VALUES " +
                                 string.Join(", ", budgets.Select(b => string.Create(CultureInfo.InvariantCulture, $"({StreamEngine.ClickHouse.Stores.ClickHouseSql.Literal(b.Campaign)}, {b.DailyBudgetMicros})"))));
    }

    /// <summary>The demo's traffic: realistic, at <see cref="EventsPerSecond"/>, event time following the clock.</summary>
    private static TrafficOptions DemoTraffic(int seed) => new()
    {
        Seed = seed,
        AuctionsPerSecond = EventsPerSecond / 1.4,
        DuplicateFraction = 0.01,
        MalformedFraction = 0.005,
    };

    /// <summary>A small query's rows on one line ("a 1, b 2"), or why it failed.</summary>
    private static string Top(EmbeddedClickHouse clickHouse, string sql)
    {
        try
        {
            var rows = clickHouse.QueryText(sql);
            return string.Join(", ", rows.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(r => r.Replace('\t', ' ')));
        }
        catch (StreamEngine.ClickHouse.ClickHouseException e)
        {
            return $"(query failed: {e.ErrorName})";
        }
    }

    /// <summary>Sends <paramref name="traffic"/> at <see cref="EventsPerSecond"/> until cancelled.</summary>
    private static void Generate(string bootstrap, TrafficOptions traffic, CancellationToken cancellation)
    {
        // Uncompressed: the embedded cluster in this process walks every batch it keeps per fetch, compressed ones are just more of them.
        using var producer = KafkaClients.HighThroughputProducer(bootstrap, "streamengine-demo", KafkaClients.PacedLinger, compress: false);
        var generator = new TrafficGenerator(traffic with { StartTimeMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
        TrafficSender.Send(producer, "ad-events", generator.Messages(), EventsPerSecond, cancellation);
        producer.Flush(TimeSpan.FromSeconds(10));
    }
}
