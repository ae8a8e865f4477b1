using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Dashboard;

/// <summary>
/// The dashboard against what ClickHouse holds, in a real browser: the three jobs run as three <c>streamengine run</c>
/// processes over one store (the test's embedded ClickHouse behind its HTTP endpoint, as a server; campaign budgets
/// from a campaigns file) and the dashboard of the ad-metrics engine is opened. Once they have caught up, every view
/// shows the numbers ClickHouse holds at that moment (queried by the test with its own SQL, not the read API's): the
/// overview's rows with their pacing, a campaign's tiles, pacing and top creative for two ranges, a slot's newest
/// minute and floor recommendation, the alerts feed. The overview follows new traffic, and the page survives a
/// restart of its engine. Screenshots of each view at 1400 and 390 px are kept in artifacts/, and axe-core finds no
/// serious accessibility violation in any view.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class DashboardResultsTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly TimeSpan Patience = DashboardBrowser.Patience;

    [Fact]
    public async Task Every_view_shows_what_ClickHouse_holds_follows_new_traffic_and_survives_a_restart()
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic("dashboard", 4);
        // About 30 minutes of event time, all of it past (the API's "now" is never past the clock), most minutes closed,
        // and all in one UTC day ("today" is the newest stored minute's day): run near midnight, it is yesterday evening's.
        var start = DateTimeOffset.UtcNow.AddMinutes(-40);
        if (start.Date != start.AddMinutes(45).Date)
        {
            start = new DateTimeOffset(start.Date.AddHours(22), TimeSpan.Zero);
        }

        var traffic = new TrafficGenerator(new TrafficOptions
        {
            Seed = 31, Campaigns = 12, Placements = 4, AuctionsPerSecond = 4,
            StartTimeMs = start.ToUnixTimeMilliseconds(),
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

        // One store for the three jobs, as a server would be; budgets small enough that pacing has something to say.
        var db = clickHouse.CreateDatabase("dashboard");
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, ClickHouse.ServerEndpoint.Options(0));
        using var folder = new TemporaryDirectory("streamengine-dashboard");
        var campaigns = Path.Combine(folder.Path, "campaigns.csv");
        await File.WriteAllLinesAsync(campaigns, ["campaign,daily_budget", .. Enumerable.Range(1, 12).Select(i => $"cmp-{i:D4},{(i % 3 == 0 ? 0.02 : 40)}")]);
        // ad-metrics is restarted on its port (the open page reconnects to it); the others take what they bind.
        var metricsPort = FreePort.Next();
        string[] Run(string job, int port) =>
            ["run", "--job", job, "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}", "--set", "clickhouse.mode=server",
             "--set", $"clickhouse.url={endpoint.Url}", "--set", $"clickhouse.database={db}", "--set", $"http.port={port}",
             "--set", $"pacing.campaigns_file={campaigns}", "--set", "pricing.min_samples=20"];
        var metrics = StreamEngineCli.Start(Run("ad-metrics", metricsPort));
        using var slots = StreamEngineCli.Start(Run("bid-landscape", 0));
        using var pricing = StreamEngineCli.Start(Run("dynamic-pricing", 0));
        try
        {
            using var metricsEngine = await EngineUnderTest.AttachAsync(metrics, Patience);
            using var slotsEngine = await EngineUnderTest.AttachAsync(slots, Patience);
            using var pricingEngine = await EngineUnderTest.AttachAsync(pricing, Patience);
            await Task.WhenAll(CaughtUpAsync(metricsEngine), CaughtUpAsync(slotsEngine));

            // A failed wait says what the engines said and how far dynamic-pricing got (its upstreams' stored progress, its floors).
            string Progress() => clickHouse.Store.QueryText(
                $"SELECT job, partition, argMax(watermark, written_at) FROM {db}.partition_checkpoints_v2 GROUP BY job, partition ORDER BY job, partition").ReplaceLineEndings(" | ") +
                $" floors: {clickHouse.Store.QueryText($"SELECT count(), max(window_start) FROM {db}.floor_recommendation_results").Trim()}";
            await using var browser = await DashboardBrowser.LaunchAsync(() =>
                $"ad-metrics said: {DashboardBrowser.Tail(metrics.StandardError)}; dynamic-pricing said: {DashboardBrowser.Tail(pricing.StandardError)}; progress: {Progress()}");
            var page = browser.Page;
            Task<string> Stored(string sql) => Task.Run(() => clickHouse.Store.QueryText(sql.Replace("ads.", db + ".", StringComparison.Ordinal)).Trim());
            const string Today = "toDate(window_start) = (SELECT toDate(max(window_start)) FROM ads.campaign_minute)";

            // The overview: every campaign of the day, impressions, clicks and spend, budget, pace and status as stored.
            await page.GotoAsync($"http://127.0.0.1:{metricsPort}/");
            await browser.ExpectAsync("#status[data-state=connected]");
            // Every column: campaign, impressions, clicks, CTR, spend, budget, pace, status, throttle (ratios to 12 digits:
            // the page prints them as JavaScript does, ClickHouse as it does).
            async Task<string> OverviewShown() => string.Join('\n', (await browser.OverviewRowsAsync()).Select(Ratios).Order(StringComparer.Ordinal));
            async Task<string> OverviewStored() => string.Join('\n', (await Stored(
                $"SELECT c.campaign, i, k, if(i > 0, toString(k / i), ''), s, p.daily_budget_micros, p.pace_ratio, p.status, p.throttle_probability FROM (SELECT campaign, " +
                $"sum(impressions) AS i, sum(clicks) AS k, sum(spend_micros) AS s FROM ads.campaign_minute WHERE {Today} GROUP BY campaign) AS c LEFT JOIN (SELECT campaign, " +
                $"argMax(daily_budget_micros, window_start) AS daily_budget_micros, argMax(pace_ratio, window_start) AS pace_ratio, argMax(status, window_start) AS status, " +
                $"argMax(throttle_probability, window_start) AS throttle_probability FROM ads.campaign_pacing WHERE {Today} GROUP BY campaign) AS p ON c.campaign = p.campaign " +
                "ORDER BY c.campaign")).Split('\n').Select(Ratios));
            await browser.UntilEqualAsync(OverviewShown, OverviewStored, "the overview's campaigns");

            // The status counts at the top, each campaign's sparkline (impressions per minute over the hour up to the
            // page's newest minute), the text filter and a status chip.
            await browser.UntilEqualAsync(
                async () => string.Join(' ', await page.Locator("#status-counts button[data-status]:not([data-status=''])").EvaluateAllAsync<string[]>(
                    "chips => chips.map(c => c.dataset.status + '=' + c.querySelector('b').textContent).sort()")),
                () => Stored($"SELECT arrayStringConcat(arraySort(groupArray(concat(s, '=', toString(n)))), ' ') FROM (SELECT s, count() AS n FROM " +
                             $"(SELECT campaign, argMax(status, window_start) AS s FROM ads.campaign_pacing WHERE {Today} GROUP BY campaign) GROUP BY s)"),
                "the overview's status counts");
            await browser.UntilEqualAsync(
                async () => string.Join('\n', await page.Locator("#overview-table tbody tr[data-campaign]").EvaluateAllAsync<string[]>(
                    "rows => rows.map(r => r.dataset.campaign + ' ' + r.querySelector('svg').dataset.values).sort()")),
                async () =>
                {
                    var newest = await page.GetAttributeAsync("#overview-table", "data-newest");
                    return await Stored(
                        $"SELECT concat(campaign, ' ', arrayStringConcat(arrayMap(m -> toString(ifNull(m, 0)), arrayMap(k -> byMinute[toInt64(k) * 60 - 3540], range(60))), ' ')) FROM " +
                        $"(SELECT campaign, CAST(mapFromArrays(groupArray(toInt64(toUnixTimestamp(window_start)) - {newest} DIV 1000), groupArray(toNullable(impressions))), 'Map(Int64, Nullable(UInt64))') AS byMinute " +
                        $"FROM ads.campaign_minute WHERE {Today} GROUP BY campaign) ORDER BY campaign");
                },
                "the overview's sparklines");
            var prefix = (await browser.OverviewRowsAsync())[0].Split('\t')[0][..^1];
            await page.FillAsync("#overview-filter", prefix);
            await browser.WaitAsync(async () => (await browser.OverviewRowsAsync()) is { Count: > 0 } rows && rows.All(r => r.StartsWith(prefix, StringComparison.Ordinal)) &&
                rows.Count == int.Parse(await Stored($"SELECT count(DISTINCT campaign) FROM ads.campaign_minute WHERE {Today} AND startsWith(campaign, '{prefix}')"), System.Globalization.CultureInfo.InvariantCulture),
                $"the overview filtered to the campaigns starting with {prefix}");
            await page.FillAsync("#overview-filter", "");
            var chip = page.Locator("#status-counts button[data-status]:not([data-status=''])").First;
            var (chipStatus, chipCount) = (await chip.GetAttributeAsync("data-status"), int.Parse(await chip.Locator("b").InnerTextAsync(), System.Globalization.CultureInfo.InvariantCulture));
            await chip.ClickAsync();
            await browser.WaitAsync(async () => (await browser.OverviewRowsAsync()) is var rows && rows.Count == chipCount && rows.All(r => r.Split('\t')[7] == chipStatus),
                $"the overview filtered to the {chipCount} campaigns {chipStatus}");
            await page.ClickAsync("#status-counts button[data-status='']");
            await browser.AssertAccessibleAsync("overview");
            // Every column, tile and chart of every view says on hover what it counts.
            var undefinedMetrics = await page.EvaluateAsync<string[]>(
                "() => [...document.querySelectorAll('th[scope=col], .tile .label, figcaption')].filter(e => !e.title && !e.querySelector('[title]:not([title=\"\"])')).map(e => e.textContent.trim())");
            Assert.True(undefinedMetrics.Length == 0, $"metrics without a definition on hover: {string.Join(", ", undefinedMetrics)}");
            await ScreenshotsAsync(browser, "overview");

            // A campaign, today and the last 15 minutes: the tiles, the number of minutes, its pacing, the top creative.
            var campaign = (await browser.OverviewRowsAsync())[0].Split('\t')[0];
            // By keyboard: a column's sort button takes Space, a campaign's link takes Enter.
            await page.FocusAsync("#overview-table th[data-sort=campaign] button");
            await page.Keyboard.PressAsync("Space");
            await browser.WaitAsync(async () => await page.GetAttributeAsync("#overview-table th[data-sort=campaign]", "aria-sort") == "ascending" &&
                (await browser.OverviewRowsAsync()).Select(r => r.Split('\t')[0]).SequenceEqual((await browser.OverviewRowsAsync()).Select(r => r.Split('\t')[0]).Order(StringComparer.Ordinal)),
                "the overview sorted by campaign from the keyboard");
            await page.FocusAsync($"#overview-table a[href='#/campaign/{campaign}']");
            // A redraw with other rows (another sort, clicked by script so the focus stays where it was) keeps the focus on
            // the campaign's link: the 5 s refresh redraws the table too.
            await page.EvalOnSelectorAsync("#overview-table th[data-sort=impressions] button", "b => b.click()");
            Assert.Equal($"#/campaign/{campaign}", await page.EvaluateAsync<string?>("() => document.activeElement?.getAttribute('href')"));
            await page.Keyboard.PressAsync("Enter");
            await browser.ExpectAsync("#view-campaign:not([hidden])");
            foreach (var (range, since) in new[] { ("today", Today), ("1h", "window_start >= (SELECT max(window_start) FROM ads.campaign_minute) - INTERVAL 59 MINUTE"), ("15m", "window_start >= (SELECT max(window_start) FROM ads.campaign_minute) - INTERVAL 14 MINUTE") })
            {
                await page.ClickAsync($"#view-campaign button[data-range='{range}']");
                await browser.UntilEqualAsync(
                    async () => string.Join('\t', await browser.ValueAsync("#impressions"), await browser.ValueAsync("#clicks"), await browser.ValueAsync("#spend"),
                        await browser.ValueAsync("#conversions"), (await browser.TextAsync("#campaign-window")).Split(' ')[0]),
                    () => Stored($"SELECT sum(impressions), sum(clicks), sum(spend_micros), sum(conversions), count() FROM ads.campaign_minute WHERE campaign = '{campaign}' AND {since}"),
                    $"campaign {campaign}'s tiles over {range}");
                await browser.UntilEqualAsync(
                    async () => string.Join('\t', (await page.Locator("#by-ad tbody tr").First.InnerTextAsync()).Split('\t').Select(c => c.Trim().Replace(",", "", StringComparison.Ordinal)).Take(3)),
                    () => Stored($"SELECT ad, sum(impressions) AS i, sum(clicks) FROM ads.ad_minute WHERE campaign = '{campaign}' AND {since} GROUP BY ad ORDER BY i DESC, ad LIMIT 1"),
                    $"campaign {campaign}'s top creative over {range}");
                await browser.UntilEqualAsync(
                    async () => string.Join('\n', (await page.Locator("#by-geo tbody tr:has(th)").AllInnerTextsAsync()).Select(r => string.Join('\t', r.Split('\t').Select(c => c.Trim().Replace(",", "", StringComparison.Ordinal)).Take(4)))),
                    () => Stored($"SELECT country, device, sum(impressions) AS i, sum(clicks) FROM ads.campaign_geo_device_minute WHERE campaign = '{campaign}' AND {since} GROUP BY country, device ORDER BY i DESC, country, device LIMIT 25"),
                    $"campaign {campaign}'s countries and devices over {range}");
            }

            // The open minute is said to be partial exactly when a partition's newest partial of it is not final.
            await browser.UntilEqualAsync(
                async () => (await browser.TextAsync("#campaign-window")).Contains("still open (partial)", StringComparison.Ordinal) ? "false" : "true",
                () => Stored($"SELECT toBool(min(f)) FROM (SELECT source_partition, argMax(is_final, version) AS f FROM ads.campaign_minute_results WHERE campaign = '{campaign}' " +
                             $"AND window_start = (SELECT max(window_start) FROM ads.campaign_minute_results WHERE campaign = '{campaign}') GROUP BY source_partition)"),
                $"campaign {campaign}'s newest minute marked partial as long as it is");

            await browser.UntilEqualAsync(
                async () => Ratios(string.Join('\t', await browser.ValueAsync("#spend-today"), await browser.ValueAsync("#budget"), await browser.ValueAsync("#pace-status"),
                    await browser.ValueAsync("#ideal-today"), await browser.ValueAsync("#pace-ratio"), await browser.ValueAsync("#throttle"))),
                async () => Ratios(await Stored($"SELECT spend_today_micros, daily_budget_micros, status, ideal_shaped_micros, pace_ratio, throttle_probability FROM ads.campaign_pacing " +
                                                $"WHERE campaign = '{campaign}' ORDER BY window_start DESC LIMIT 1")),
                $"campaign {campaign}'s pacing");
            await browser.AssertAccessibleAsync("campaign");
            await ScreenshotsAsync(browser, "campaign");

            // A slot: the newest minute's bids, wins and clearing quantiles, and the newest floor recommendation.
            await page.ClickAsync("nav a[data-view=slot]");
            await browser.ExpectAsync("#view-slot:not([hidden])");
            await browser.WaitAsync(async () => (await page.InputValueAsync("#slot")).Length > 0, "a slot in the picker");
            var slot = await page.InputValueAsync("#slot");
            await browser.UntilEqualAsync(
                async () => string.Join('\t', await browser.ValueAsync("#slot-bids"), await browser.ValueAsync("#slot-wins"), Ratio(await browser.ValueAsync("#slot-win-rate")), await browser.ValueAsync("#slot-clearing")),
                async () => Ratios(await Stored($"SELECT bids, wins, win_rate, concat(ifNull(toString(clearing_p50_micros), ''), ',', ifNull(toString(clearing_p90_micros), ''), ',', ifNull(toString(clearing_p99_micros), '')) " +
                             $"FROM ads.slot_minute WHERE slot = '{slot}' ORDER BY window_start DESC LIMIT 1")),
                $"slot {slot}'s newest minute");
            // Its price distributions hold every bid and win of the minute and of the hour up to it (the stored buckets).
            foreach (var (window, minutes) in new[] { ("minute", 0), ("hour", 59) })
            {
                await page.ClickAsync($"#view-slot button[data-dist={window}]");
                await browser.UntilEqualAsync(
                    async () => $"{await page.GetAttributeAsync("#bid-chart", "data-total")} {await page.GetAttributeAsync("#clearing-chart", "data-total")}",
                    () => Stored($"SELECT concat(toString(sum(bids)), ' ', toString(sum(wins))) FROM ads.slot_minute WHERE slot = '{slot}' AND window_start >= " +
                                 $"(SELECT max(window_start) FROM ads.slot_minute WHERE slot = '{slot}') - INTERVAL {minutes} MINUTE"),
                    $"slot {slot}'s bid and clearing distributions over the {window}");
            }

            await browser.UntilEqualAsync(
                async () => string.Join('\t', await browser.ValueAsync("#slot-samples"), await browser.ValueAsync("#slot-floor-status"), Ratio(await browser.ValueAsync("#slot-confidence")),
                    Ratio(await browser.ValueAsync("#slot-optimal")),
                    await browser.ValueAsync("#slot-floor") is { Length: > 0 } floor ? Math.Floor(double.Parse(floor, System.Globalization.CultureInfo.InvariantCulture)).ToString(System.Globalization.CultureInfo.InvariantCulture) : ""),
                async () => Ratios(await Stored($"SELECT samples, status, confidence, ifNull(toString(optimal_floor_micros), ''), ifNull(toString(floor(recommended_floor_micros)), '') FROM ads.floor_recommendation " +
                                                $"WHERE slot = '{slot}' ORDER BY window_start DESC LIMIT 1")),
                $"slot {slot}'s floor recommendation");
            await browser.AssertAccessibleAsync("slot");
            await ScreenshotsAsync(browser, "slot");

            // Alerts agree with the statuses: a campaign over, under or exhausted in its newest closed minute (dynamic-pricing
            // alerts on closed minutes only: the minute before ad-metrics' lowest watermark and earlier) has the alert of that
            // status today (the 0.02 budgets are spent within the campaign's first minute, with no earlier status to leave).
            var missing = "";
            const string Closed = "toUnixTimestamp(window_start) <= (SELECT intDiv(intDiv(min(w), 1000) - 60, 60) * 60 FROM (SELECT partition, argMax(watermark, (newest, written_at)) AS w " +
                                  "FROM ads.partition_checkpoints_v2 WHERE job = 'ad-metrics' GROUP BY partition) WHERE w != -9223372036854775808)";
            await browser.WaitAsync(async () => (missing = await Stored(
                    $"SELECT groupArray(concat(campaign, ' ', s)) FROM (SELECT campaign, argMax(status, window_start) AS s FROM ads.campaign_pacing WHERE {Today} AND {Closed} GROUP BY campaign) " +
                    $"WHERE s IN ('over', 'under', 'exhausted') AND (campaign, s) NOT IN (SELECT campaign, status FROM ads.pacing_alerts FINAL WHERE {Today})")) == "[]",
                () => $"every campaign in an alerting status to have its alert; without one: {missing}");

            // The alerts feed: the day's pacing alerts, newest first, with their numbers, as stored.
            await page.ClickAsync("nav a[data-view=alerts]");
            await browser.ExpectAsync("#view-alerts:not([hidden])");
            await browser.UntilEqualAsync(
                async () => string.Join('\n', await page.Locator("#alerts li[data-campaign]").EvaluateAllAsync<string[]>(
                    "items => items.map(i => [i.dataset.campaign, i.dataset.status, i.dataset.t, i.dataset.spend, i.dataset.budget].join(' '))")),
                () => Stored(
                    $"SELECT concat(campaign, ' ', status, ' ', toString(toUnixTimestamp(window_start) * 1000), ' ', toString(spend_today_micros), ' ', toString(daily_budget_micros)) " +
                    $"FROM ads.pacing_alerts FINAL WHERE {Today} ORDER BY window_start DESC, campaign, status LIMIT 100"),
                "the alerts feed");
            Assert.Contains("exhausted", await browser.TextAsync("#alerts"), StringComparison.Ordinal);
            // Times in the viewer's zone (the browser's is Europe/Berlin), with UTC on hover.
            var first = page.Locator("#alerts li[data-campaign] time").First;
            var at = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(await page.Locator("#alerts li[data-campaign]").First.GetAttributeAsync("data-t") ?? "", System.Globalization.CultureInfo.InvariantCulture));
            var berlin = TimeZoneInfo.ConvertTime(at, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin"));
            // As the browser's en-US locale writes a 2-digit hour and minute (this process has no cultures to ask).
            var hour12 = berlin.Hour % 12 == 0 ? 12 : berlin.Hour % 12;
            Assert.Equal($"{hour12:00}:{berlin.Minute:00} {(berlin.Hour < 12 ? "AM" : "PM")}", (await first.InnerTextAsync()).Replace('\u202f', ' ').Trim());
            Assert.Equal(at.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture), await first.GetAttributeAsync("title"));
            await browser.AssertAccessibleAsync("alerts");
            await ScreenshotsAsync(browser, "alerts");

            // Live: more traffic, and the overview follows it to what is stored then.
            await page.ClickAsync("nav a[data-view=overview]");
            var before = await OverviewShown();
            Send(3_000);
            await CaughtUpAsync(metricsEngine);
            await browser.WaitAsync(async () => await OverviewShown() != before, "the overview to follow new traffic");
            await browser.UntilEqualAsync(OverviewShown, OverviewStored, "the overview after new traffic");

            // The engine restarts: the page notices, reconnects and shows the stored results again.
            metrics.Signal(15);
            await metrics.WaitForExitAsync(Patience);
            await browser.ExpectAsync("#status:not([data-state=connected])");
            await browser.ExpectAsync("#problem:not([hidden])");
            metrics.Dispose();
            metrics = StreamEngineCli.Start(Run("ad-metrics", metricsPort));
            using var restarted = await EngineUnderTest.AttachAsync(metrics, Patience);
            await browser.ExpectAsync("#status[data-state=connected]");
            await browser.ExpectAsync("#problem[hidden]");
            await browser.UntilEqualAsync(OverviewShown, OverviewStored, "the overview after a restart");
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

    /// <summary>The view at 1400 px, fitting 1280 px, and on a 390 px phone, which it must fit and be accessible on.</summary>
    private static async Task ScreenshotsAsync(DashboardBrowser browser, string view)
    {
        await browser.ScreenshotAsync($"{view}-1400");
        await browser.SizeAsync(1280, 900);
        await browser.UntilFitsWidthAsync(view);
        await browser.SizeAsync(390, 844);
        await browser.UntilFitsWidthAsync(view);
        await browser.AssertAccessibleAsync($"{view} at 390 px");
        await browser.ScreenshotAsync($"{view}-390");
        await browser.SizeAsync(1400, 1000);
    }

    /// <summary>A row's numbers with a fraction to 12 significant digits (the page and ClickHouse print doubles each their own way).</summary>
    private static string Ratios(string row) => string.Join('\t', row.Split('\t').Select(Ratio));

    private static string Ratio(string field) =>
        field.AsSpan().IndexOfAny('.', 'e', 'E') >= 0 && double.TryParse(field, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value.ToString("G12", System.Globalization.CultureInfo.InvariantCulture)
            : field;
}
