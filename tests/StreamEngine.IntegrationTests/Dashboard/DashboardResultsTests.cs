using System.Globalization;
using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Dashboard;

/// <summary>
/// The dashboard against what ClickHouse holds, in a real browser: <c>streamengine run</c> reads a topic of generated
/// traffic; once it has caught up, every view shows the numbers ClickHouse holds at that moment (queried by the test
/// with <c>streamengine query</c> through the running engine, its own SQL, not the read API's): the overview's rows,
/// a campaign's tiles and breakdowns for two ranges, a slot's newest minute and floor. The overview follows new
/// traffic, and the page survives a restart of the engine. Screenshots of each view at 1400 and 390 px are kept in
/// artifacts/, and axe-core finds no serious accessibility violation in any view.
/// </summary>
public sealed class DashboardResultsTests
{
    private static readonly TimeSpan Patience = DashboardBrowser.Patience;

    [Fact]
    public async Task Every_view_shows_what_ClickHouse_holds_follows_new_traffic_and_survives_a_restart()
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic("dashboard", 4);
        // About 25 minutes of event time ending now, so minutes are closed and the newest still open.
        var traffic = new TrafficGenerator(new TrafficOptions
        {
            Seed = 31, Campaigns = 12, Placements = 4, AuctionsPerSecond = 4,
            StartTimeMs = DateTimeOffset.UtcNow.AddMinutes(-25).ToUnixTimeMilliseconds(),
        }).Messages().GetEnumerator();
        using var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build();
        void Send(int count)
        {
            for (var i = 0; i < count && traffic.MoveNext(); i++)
            {
                producer.Produce(topic, new Message<string, byte[]> { Key = traffic.Current.Key, Value = traffic.Current.Value });
            }

            producer.Flush(Patience);
        }

        Send(7_000);

        // Two engines over the topic, each with its own store: ad-metrics (campaigns) and bid-landscape (slots).
        using var metricsFolder = new TemporaryDirectory("streamengine-dashboard-metrics");
        using var slotsFolder = new TemporaryDirectory("streamengine-dashboard-slots");
        var (metricsPort, metricsStore, slotsPort, slotsStore) = (FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next());
        string[] Run(string job, TemporaryDirectory folder, int port, int store) =>
            ["run", "--job", job, "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}", "--set", $"clickhouse.path={folder.Path}",
             "--set", $"clickhouse.http.port={store}", "--set", $"http.port={port}"];
        var metrics = StreamEngineCli.Start(Run("ad-metrics", metricsFolder, metricsPort, metricsStore));
        using var slots = StreamEngineCli.Start(Run("bid-landscape", slotsFolder, slotsPort, slotsStore));
        try
        {
            using var metricsEngine = await EngineUnderTest.AttachAsync(metrics, Patience);
            using var slotsEngine = await EngineUnderTest.AttachAsync(slots, Patience);
            await Task.WhenAll(CaughtUpAsync(metricsEngine), CaughtUpAsync(slotsEngine));

            await using var browser = await DashboardBrowser.LaunchAsync(() => $"ad-metrics said: {DashboardBrowser.Tail(metrics.StandardError)}");
            var page = browser.Page;
            Task<string> Stored(TemporaryDirectory folder, int store, string sql) => QueryAsync(folder, store, sql);
            const string Today = "toDate(window_start) = (SELECT toDate(max(window_start)) FROM ads.campaign_minute)";

            // The overview: every campaign of the day, impressions, clicks and spend as stored.
            await page.GotoAsync($"http://127.0.0.1:{metricsPort}/");
            await browser.ExpectAsync("#status[data-state=connected]");
            async Task<string> OverviewShown() => string.Join('\n', (await browser.OverviewRowsAsync()).Select(r => string.Join('\t', r.Split('\t').Take(4))).Order(StringComparer.Ordinal));
            Task<string> OverviewStored() => Stored(metricsFolder, metricsStore,
                $"SELECT campaign, sum(impressions), sum(clicks), sum(spend_micros) FROM ads.campaign_minute WHERE {Today} GROUP BY campaign ORDER BY campaign");
            await browser.UntilEqualAsync(OverviewShown, OverviewStored, "the overview's campaigns");
            await browser.AssertAccessibleAsync("overview");
            await ScreenshotsAsync(browser, "overview");

            // A campaign, today and the last 15 minutes: the tiles, the number of minutes, the top creative.
            var campaign = (await browser.OverviewRowsAsync())[0].Split('\t')[0];
            await page.ClickAsync($"#overview-table a[href='#/campaign/{campaign}']");
            await browser.ExpectAsync("#view-campaign:not([hidden])");
            foreach (var (range, since) in new[] { ("today", Today), ("15m", "window_start >= (SELECT max(window_start) FROM ads.campaign_minute) - INTERVAL 14 MINUTE") })
            {
                await page.ClickAsync($"#view-campaign button[data-range='{range}']");
                await browser.UntilEqualAsync(
                    async () => string.Join('\t', await browser.ValueAsync("#impressions"), await browser.ValueAsync("#clicks"), await browser.ValueAsync("#spend"),
                        await browser.ValueAsync("#conversions"), (await browser.TextAsync("#campaign-window")).Split(' ')[0]),
                    () => Stored(metricsFolder, metricsStore,
                        $"SELECT sum(impressions), sum(clicks), sum(spend_micros), sum(conversions), count() FROM ads.campaign_minute WHERE campaign = '{campaign}' AND {since}"),
                    $"campaign {campaign}'s tiles over {range}");
                await browser.UntilEqualAsync(
                    async () => string.Join('\t', (await page.Locator("#by-ad tbody tr").First.InnerTextAsync()).Split('\t').Select(c => c.Trim().Replace(",", "", StringComparison.Ordinal)).Take(3)),
                    () => Stored(metricsFolder, metricsStore,
                        $"SELECT ad, sum(impressions) AS i, sum(clicks) FROM ads.ad_minute WHERE campaign = '{campaign}' AND {since} GROUP BY ad ORDER BY i DESC, ad LIMIT 1"),
                    $"campaign {campaign}'s top creative over {range}");
            }

            Assert.Contains("still open (partial)", await browser.TextAsync("#campaign-window"), StringComparison.Ordinal);
            await browser.AssertAccessibleAsync("campaign");
            await ScreenshotsAsync(browser, "campaign");

            // Live: more traffic, and the overview follows it to what is stored then.
            await page.ClickAsync("nav a[data-view=overview]");
            var before = await OverviewShown();
            Send(3_000);
            await CaughtUpAsync(metricsEngine);
            await browser.WaitAsync(async () => await OverviewShown() != before, "the overview to follow new traffic");
            await browser.UntilEqualAsync(OverviewShown, OverviewStored, "the overview after new traffic");

            // The engine restarts on the same store: the page notices, reconnects and shows the stored results again.
            metrics.Signal(15);
            await metrics.WaitForExitAsync(Patience);
            await browser.ExpectAsync("#status:not([data-state=connected])");
            await browser.ExpectAsync("#problem:not([hidden])");
            metrics.Dispose();
            metrics = StreamEngineCli.Start(Run("ad-metrics", metricsFolder, metricsPort, metricsStore));
            using var restarted = await EngineUnderTest.AttachAsync(metrics, Patience);
            await browser.ExpectAsync("#status[data-state=connected]");
            await browser.ExpectAsync("#problem[hidden]");
            await browser.UntilEqualAsync(OverviewShown, OverviewStored, "the overview after a restart");

            // A slot (the bid-landscape engine's dashboard): the newest minute's bids, wins and clearing quantiles.
            await page.GotoAsync($"http://127.0.0.1:{slotsPort}/#/slot");
            await browser.ExpectAsync("#view-slot:not([hidden])");
            await browser.WaitAsync(async () => (await page.InputValueAsync("#slot")).Length > 0, "a slot in the picker");
            var slot = await page.InputValueAsync("#slot");
            await browser.UntilEqualAsync(
                async () => string.Join('\t', await browser.ValueAsync("#slot-bids"), await browser.ValueAsync("#slot-wins"), await browser.ValueAsync("#slot-clearing")),
                () => Stored(slotsFolder, slotsStore,
                    $"SELECT bids, wins, concat(toString(clearing_p50_micros), ',', toString(clearing_p90_micros), ',', toString(clearing_p99_micros)) FROM ads.slot_minute " +
                    $"WHERE slot = '{slot}' ORDER BY window_start DESC LIMIT 1"),
                $"slot {slot}'s newest minute");
            // No dynamic-pricing here: the page says so instead of showing made-up floors.
            Assert.Contains("not computed", await browser.TextAsync("#slot-floor-status"), StringComparison.Ordinal);
            await browser.AssertAccessibleAsync("slot");
            await ScreenshotsAsync(browser, "slot");
            await page.ClickAsync("nav a[data-view=alerts]");
            await browser.ExpectAsync("#view-alerts:not([hidden])");
            await browser.AssertAccessibleAsync("alerts");
        }
        finally
        {
            metrics.Dispose();
        }
    }

    /// <summary>Every record read and every result written: lag 0 on all partitions and nothing pending.</summary>
    private static Task CaughtUpAsync(EngineUnderTest engine) => engine.UntilAsync(async () =>
    {
        var exposition = await engine.MetricsAsync();
        return EngineUnderTest.Samples(exposition, "streamengine_consumer_lag_messages") is { Count: 4 } lags && lags.All(l => l == 0) &&
               EngineUnderTest.Value(exposition, "streamengine_pending_rows") == 0;
    }, "the engine to catch up and write everything");

    /// <summary>The view at 1400 px and on a 390 px phone, which it must fit.</summary>
    private static async Task ScreenshotsAsync(DashboardBrowser browser, string view)
    {
        await browser.ScreenshotAsync($"{view}-1400");
        await browser.SizeAsync(390, 844);
        await browser.UntilFitsWidthAsync(view);
        await browser.ScreenshotAsync($"{view}-390");
        await browser.SizeAsync(1400, 1000);
    }

    private static async Task<string> QueryAsync(TemporaryDirectory folder, int store, string sql)
    {
        using var query = await StreamEngineCli.RunAsync(Patience, "query", "--set", $"clickhouse.path={folder.Path}",
            "--set", $"clickhouse.http.port={store.ToString(CultureInfo.InvariantCulture)}", sql);
        Assert.True(query.ExitCode == 0, query.StandardError);
        return query.StandardOutput.Trim();
    }
}
