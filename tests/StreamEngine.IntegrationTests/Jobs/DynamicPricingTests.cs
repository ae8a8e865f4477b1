using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using StreamEngine.AdEvents;
using StreamEngine.AdEvents.Pricing;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Sketches;
using StreamEngine.Core.Windowing;
using StreamEngine.Jobs;
using StreamEngine.Jobs.ClickHouse;
using StreamEngine.Nats;
using StreamEngine.Runtime.Results;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Jobs;

/// <summary>
/// <c>dynamic-pricing</c> on scripted inputs in ClickHouse, on event time: the input jobs' stored progress (their
/// checkpoints' watermarks) says 2026-01-15 12:00:30 UTC, whatever the wall clock says. Budget pacing over a scripted
/// morning against the same arithmetic done here, the alerts it raises (once, across a restart), and floor
/// recommendations chained over merged per-partition bid distributions, recomputed when a late partial arrives.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class DynamicPricingTests(EmbeddedClickHouseFixture clickHouse)
{
    private const long Budget = 1_440_000_000; // 1,440 USD a day
    private static readonly DateTimeOffset Day = new(2026, 1, 15, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = Day.AddHours(12).AddSeconds(30);

    [Fact]
    public async Task Pacing_over_a_scripted_morning_matches_the_arithmetic_and_raises_one_over_delivery_alert()
    {
        await using var nats = await NatsServerFixture.StartAsync(jetStream: false);
        await using var subscriber = new NatsConnection(new NatsOpts { Url = nats.Url });
        await using var alerts = await subscriber.SubscribeCoreAsync<byte[]>("adtrack.alerts.pacing");
        var live = new LivePublisher(new LivePublisherOptions { Url = nats.Url });
        var (runner, store, database) = await StartAsync("pacing", live);
        var weights = DynamicPricing.HourlyTrafficWeights;
        var w = "[" + string.Join(",", weights) + "]";
        // 720 minutes of spend: "steady" on the traffic-shaped pace, "slow" at half of it, "burst" at 4x from 11:30.
        foreach (var (campaign, factor) in new[] { ("steady", "1"), ("slow", "0.5"), ("burst", "if(number >= 690, 4, 1)") })
        {
            await store.ExecuteAsync(
                $"INSERT INTO {database}.campaign_minute_results (window_start, campaign, source_partition, bids, wins, impressions, clicks, conversions, " +
                $"spend_micros, unique_users, version, is_final) SELECT toDateTime64('2026-01-15 00:00:00', 3, 'UTC') + number * 60, '{campaign}', 0, 0, 0, 1, 0, 0, " +
                $"toInt64({Budget} * {w}[intDiv(number, 60) + 1] / 60 / {weights.Sum()} * {factor}), 0, 1, 1 FROM numbers(720)");
            await store.ExecuteAsync($"INSERT INTO {database}.campaign_budgets (campaign, daily_budget_micros) VALUES ('{campaign}', {Budget})");
        }

        var expected = new Dictionary<string, List<(long Spent, double Linear, double Shaped, string Status)>>();
        foreach (var (campaign, factor) in new (string, Func<int, double>)[] { ("steady", _ => 1), ("slow", _ => 0.5), ("burst", n => n >= 690 ? 4 : 1) })
        {
            long spent = 0;
            var minutes = expected[campaign] = [];
            for (var n = 0; n < 720; n++)
            {
                var (hour, minute) = (n / 60, n % 60);
                spent += (long)(Budget * (double)weights[hour] / 60 / weights.Sum() * factor(n));
                var shaped = Budget * (weights.Take(hour).Sum() + weights[hour] * (minute + 1) / 60.0) / weights.Sum();
                var ratio = spent / shaped;
                var status = spent >= Budget ? "exhausted" : shaped < Budget * 0.01 ? "warming_up" : ratio > 1.2 ? "over" : ratio < 0.8 ? "under" : "on_pace";
                minutes.Add((spent, Budget * (n + 1) / 1440.0, shaped, status));
            }
        }

        var rows = clickHouse.Store.QueryText(
            $"SELECT campaign, toUnixTimestamp(window_start), spend_today_micros, ideal_linear_micros, ideal_shaped_micros, pace_ratio, pacing_multiplier, " +
            $"throttle_probability, status FROM {database}.campaign_pacing ORDER BY campaign, window_start").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3 * 720, rows.Length);
        foreach (var fields in rows.Select(r => r.Split('\t')))
        {
            var n = (int)((long.Parse(fields[1], CultureInfo.InvariantCulture) - Day.ToUnixTimeSeconds()) / 60);
            var e = expected[fields[0]][n];
            Assert.Equal(e.Spent, long.Parse(fields[2], CultureInfo.InvariantCulture));
            Assert.Equal(e.Linear, Double(fields[3]), 3);
            Assert.Equal(e.Shaped, Double(fields[4]), 3);
            Assert.Equal(e.Spent / e.Shaped, Double(fields[5]), 9);
            var multiplier = Math.Min(2, e.Shaped / e.Spent);
            Assert.Equal(multiplier, Double(fields[6]), 9);
            Assert.Equal(Math.Max(0, 1 - multiplier), Double(fields[7]), 9);
            Assert.True(e.Status == fields[8], $"{fields[0]} minute {n}: expected {e.Status}, got {fields[8]}");
        }

        Assert.Equal("on_pace", expected["steady"][^1].Status);
        Assert.Equal("under", expected["slow"][^1].Status);
        await runner.CycleAsync();
        await live.DisposeAsync(); // sends what it still holds
        var published = JsonDocument.Parse((await alerts.Msgs.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30))).Data!).RootElement;
        Assert.Equal("burst", published.GetProperty("campaign").GetString());
        Assert.Equal("over", published.GetProperty("status").GetString());

        // Alerts: status changes into over/under/exhausted within the look-back (11:30-11:59); only "burst" changes there.
        var overAt = Enumerable.Range(690, 30).First(n => expected["burst"][n].Status == "over");
        var stored = clickHouse.Store.QueryText($"SELECT campaign, toUnixTimestamp(window_start), status, previous_status FROM {database}.pacing_alerts FINAL");
        Assert.Equal($"burst\t{Day.AddMinutes(overAt).ToUnixTimeSeconds()}\tover\ton_pace", stored.Trim());
        Assert.Equal(0, await runner.CycleAsync()); // nothing new: nothing written twice

        // A restarted runner (or another engine's) does not raise the stored alert again.
        var restarted = await DynamicPricingWork.StartAsync(Settings(database), new EmbeddedStore(clickHouse.Store, ownsConnection: false),
            NullLogger.Instance, CancellationToken.None);
        Assert.Equal(0, await restarted.CycleAsync());
        Assert.Equal("1", clickHouse.Store.QueryText($"SELECT count() FROM {database}.pacing_alerts").Trim());
    }

    [Fact]
    public async Task Pacing_rows_read_from_a_days_start_are_the_views_rows_of_that_day_and_after()
    {
        var (_, store, database) = await StartAsync("pacingdays", progress: false);
        // Two days (Jan 14 and 15) of uneven spend for two campaigns; the bound at 06:00 of the second day.
        foreach (var campaign in new[] { "a", "b" })
        {
            await store.ExecuteAsync(
                $"INSERT INTO {database}.campaign_minute_results (window_start, campaign, source_partition, bids, wins, impressions, clicks, conversions, " +
                $"spend_micros, unique_users, version, is_final) SELECT toDateTime64('2026-01-14 00:00:00', 3, 'UTC') + number * 60, '{campaign}', 0, 0, 0, 1, 0, 0, " +
                $"toInt64(1000 + (number * 7919) % 5000), 0, 1, 1 FROM numbers(2 * 1440)");
            await store.ExecuteAsync($"INSERT INTO {database}.campaign_budgets (campaign, daily_budget_micros) VALUES ('{campaign}', {Budget})");
        }

        const string bound = "toDateTime('2026-01-15 06:00:00', 'UTC')";
        var view = clickHouse.Store.QueryText($"SELECT * FROM {database}.campaign_pacing WHERE window_start >= {bound} ORDER BY campaign, window_start");
        var bounded = clickHouse.Store.QueryText(
            $"SELECT * FROM ({DynamicPricing.PacingRows(database, bound)}) WHERE window_start >= {bound} ORDER BY campaign, window_start");
        Assert.Equal(2 * 18 * 60, view.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(view, bounded);
        // The running sum starts at the day's first minute, not at the bound: 06:00's spend today is six hours' and a minute's.
        Assert.Equal(clickHouse.Store.QueryText(
                $"SELECT sum(spend_micros) FROM {database}.campaign_minute WHERE campaign = 'a' AND window_start >= '2026-01-15 00:00:00' AND window_start <= {bound}").Trim(),
            clickHouse.Store.QueryText($"SELECT spend_today_micros FROM ({DynamicPricing.PacingRows(database, bound)}) WHERE campaign = 'a' AND window_start = {bound}").Trim());
    }

    [Fact]
    public async Task A_status_entered_in_a_campaigns_first_minute_of_the_day_is_an_alert_and_one_held_since_before_the_look_back_is_not()
    {
        var (runner, store, database) = await StartAsync("pacing_first");
        async Task Spend(string campaign, long budget, params (int Minute, long Micros)[] minutes)
        {
            await store.ExecuteAsync($"INSERT INTO {database}.campaign_budgets (campaign, daily_budget_micros) VALUES ('{campaign}', {budget})");
            foreach (var (minute, micros) in minutes)
            {
                await store.ExecuteAsync(
                    $"INSERT INTO {database}.campaign_minute_results (window_start, campaign, source_partition, bids, wins, impressions, clicks, conversions, " +
                    $"spend_micros, unique_users, version, is_final) VALUES (toDateTime64('2026-01-15 00:00:00', 3, 'UTC') + {minute * 60}, '{campaign}', 0, 0, 0, 1, 0, 0, {micros}, 0, 1, 1)");
            }
        }

        // The look-back is 11:30-11:59. "flash" spends twice its budget in its only minute, 11:45: exhausted with no
        // status before it. "held" spent 90% of its budget at 09:00 and is over since; its next minute, 11:45, has no
        // row before it in the look-back, and is no change.
        await Spend("flash", 1_000_000, (705, 2_000_000));
        await Spend("held", Budget, (540, Budget * 9 / 10), (705, 1));
        var statuses = clickHouse.Store.QueryText(
            $"SELECT campaign, status FROM {database}.campaign_pacing WHERE window_start = toDateTime('2026-01-15 11:45:00', 'UTC') ORDER BY campaign");
        Assert.Equal("flash\texhausted\nheld\tover\n", statuses);

        await runner.CycleAsync();
        var stored = clickHouse.Store.QueryText($"SELECT campaign, toUnixTimestamp(window_start), status, previous_status FROM {database}.pacing_alerts FINAL ORDER BY campaign");
        Assert.Equal($"flash\t{Day.AddMinutes(705).ToUnixTimeSeconds()}\texhausted\t\n", stored);
        Assert.Equal(0, await runner.CycleAsync());
    }

    [Fact]
    public async Task A_new_UTC_day_starts_campaigns_without_a_status_so_the_same_status_after_midnight_is_an_alert_again()
    {
        // Progress at 00:20:30 on the 16th: the look-back is 23:50-00:19, its rows read from 23:49.
        var (runner, store, database) = await StartAsync("pacing_midnight", progress: false);
        var now = Day.AddDays(1).AddMinutes(20).AddSeconds(30);
        await StoreProgress(store, database, BidLandscapeJob.JobName, now);
        await StoreProgress(store, database, AdMetricsJob.JobName, now);
        async Task Spend(string campaign, params (DateTimeOffset Minute, long Micros)[] minutes)
        {
            await store.ExecuteAsync($"INSERT INTO {database}.campaign_budgets (campaign, daily_budget_micros) VALUES ('{campaign}', 1000000)");
            foreach (var (minute, micros) in minutes)
            {
                await store.ExecuteAsync(
                    $"INSERT INTO {database}.campaign_minute_results (window_start, campaign, source_partition, bids, wins, impressions, clicks, conversions, " +
                    $"spend_micros, unique_users, version, is_final) VALUES (toDateTime64({minute.ToUnixTimeSeconds()}, 3, 'UTC'), '{campaign}', 0, 0, 0, 1, 0, 0, {micros}, 0, 1, 1)");
            }
        }

        // Each spends twice its budget in a minute. "carried": 23:55 (its first minute on the 15th) and 00:05 (its first
        // on the 16th), the row before 00:05 in the look-back being yesterday's. "fresh": 10:00 on the 15th, before the
        // look-back, and 00:05: yesterday's status is not the one it had before today's first minute.
        await Spend("carried", (Day.AddHours(23).AddMinutes(55), 2_000_000), (Day.AddDays(1).AddMinutes(5), 2_000_000));
        await Spend("fresh", (Day.AddHours(10), 2_000_000), (Day.AddDays(1).AddMinutes(5), 2_000_000));

        await runner.CycleAsync();
        var stored = clickHouse.Store.QueryText(
            $"SELECT campaign, toUnixTimestamp(window_start), status, previous_status FROM {database}.pacing_alerts FINAL ORDER BY campaign, window_start");
        var (late, early) = (Day.AddHours(23).AddMinutes(55).ToUnixTimeSeconds(), Day.AddDays(1).AddMinutes(5).ToUnixTimeSeconds());
        Assert.Equal($"carried\t{late}\texhausted\t\ncarried\t{early}\texhausted\t\nfresh\t{early}\texhausted\t\n", stored);
    }

    [Fact]
    public async Task Nothing_is_computed_before_the_input_jobs_have_stored_progress_and_only_minutes_it_closed_after()
    {
        var (runner, store, database) = await StartAsync("progress", progress: false);
        var minute = Day.AddHours(11).AddMinutes(58).ToUnixTimeMilliseconds();
        var random = new Random(5);
        await InsertSlotMinutes(store, database, [Partial(minute, 0, random, bids: 300, top: 2_000_000), Partial(minute + 60_000, 0, random, bids: 300, top: 2_000_000)]);
        Assert.Equal(0, await runner.CycleAsync()); // no checkpoint of bid-landscape: nothing is known to be complete

        // Progress at 11:59:30 in partition 0, while partition 1 is claimed but has stored no progress yet: its part of
        // any minute may still come, so nothing is closed.
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(11).AddMinutes(59).AddSeconds(30));
        await new CheckpointStore(store, database, BidLandscapeJob.JobName, "ad-events").ClaimAsync("ad-events", [1]);
        Assert.Equal(0, await runner.CycleAsync());

        // Partition 1 is at 12:10: the lowest is 11:59:30, so 11:58 is closed and 11:59 is not.
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddMinutes(10), partition: 1);
        Assert.Equal(1, await runner.CycleAsync());
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddSeconds(1));
        Assert.Equal(1, await runner.CycleAsync());
        Assert.Equal($"{minute / 1000}\n{minute / 1000 + 60}", clickHouse.Store.QueryText($"SELECT toUnixTimestamp(window_start) FROM {database}.floor_recommendation ORDER BY 1").Trim());
    }

    [Theory]
    [InlineData(0)] // each cycle after the first starts at the first minute with new input
    [InlineData(60)] // every row was written within the settle time: each cycle recomputes every minute
    public async Task Floors_are_chained_over_merged_partials_and_recomputed_when_a_late_partial_arrives(int settleSeconds)
    {
        var (runner, store, database) = await StartAsync("floors", settle: TimeSpan.FromSeconds(settleSeconds));
        var minutes = Enumerable.Range(0, 19).Select(i => Day.AddHours(11).AddMinutes(40 + i).ToUnixTimeMilliseconds()).ToList();
        var partials = new List<WindowResult<int, SlotMinute>>();
        var random = new Random(3);
        foreach (var (minute, i) in minutes.Select((m, i) => (m, i)))
        {
            foreach (var partition in new[] { 0, 1 })
            {
                partials.Add(Partial(minute, partition, random, bids: 150, top: 2_000_000 + i * 150_000));
            }
        }

        await InsertSlotMinutes(store, database, partials);
        // Minutes 11:40-11:58 are closed at 12:00:30; each has 300 bids from two partitions.
        Assert.Equal(19, await runner.CycleAsync());
        AssertChain(database, partials);
        Assert.Equal(0, await runner.CycleAsync()); // unchanged inputs write nothing

        // A late partial for 11:45 (a third partition) changes that minute and every later one in the chain.
        var late = Partial(minutes[5], 2, random, bids: 400, top: 6_000_000);
        await InsertSlotMinutes(store, database, [late]);
        Assert.Equal(14, await runner.CycleAsync());
        AssertChain(database, [.. partials, late]);

        // A restarted runner takes another late partial in at the same progress: its rows must win over those stored
        // before it started (their versions are read back, not assumed).
        var later = Partial(minutes[8], 3, random, bids: 500, top: 9_000_000);
        await InsertSlotMinutes(store, database, [later]);
        var restarted = await DynamicPricingWork.StartAsync(Settings(database, TimeSpan.FromSeconds(settleSeconds)), store, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(11, await restarted.CycleAsync());
        AssertChain(database, [.. partials, late, later]);

        // The look-back moves on (11:35 onwards at 12:05:30): the chain from the floors this runner knew before it.
        var after = Enumerable.Range(19, 6).Select(i => Partial(Day.AddHours(11).AddMinutes(40 + i).ToUnixTimeMilliseconds(), 0, random, bids: 300, top: 3_000_000)).ToList();
        await InsertSlotMinutes(store, database, after);
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddMinutes(5).AddSeconds(30));
        Assert.Equal(6, await restarted.CycleAsync());
        AssertChain(database, [.. partials, late, later, .. after]);
    }

    [Fact]
    public async Task A_cycle_after_one_that_saw_every_minute_reads_the_bid_distributions_of_the_newly_closed_minutes_only()
    {
        var database = clickHouse.CreateDatabase("floorsteps");
        var store = new QueryLog(new EmbeddedStore(clickHouse.Store, ownsConnection: false));
        var runner = await DynamicPricingWork.StartAsync(Settings(database, TimeSpan.Zero), store, NullLogger.Instance, CancellationToken.None);
        var random = new Random(7);
        var partials = Enumerable.Range(0, 24).Select(i => Partial(Day.AddHours(11).AddMinutes(35 + i).ToUnixTimeMilliseconds(), i % 3, random,
            bids: 300, top: 2_000_000 + i * 100_000)).ToList();
        await InsertSlotMinutes(store, database, partials[..20]);
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(11).AddMinutes(56).AddSeconds(30));
        Assert.Equal(20, await runner.CycleAsync()); // 11:35-11:54, the whole look-back

        // 11:55-11:58 arrive and close; nothing before them changed.
        await InsertSlotMinutes(store, database, partials[20..]);
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddSeconds(30));
        store.Queries.Clear();
        Assert.Equal(4, await runner.CycleAsync());
        AssertChain(database, partials);
        var read = Assert.Single(store.Queries, q => q.Contains("sumMap", StringComparison.Ordinal));
        Assert.Contains($"window_start >= toDateTime({Day.AddHours(11).AddMinutes(55).ToUnixTimeSeconds()}, 'UTC')", read, StringComparison.Ordinal);

        // Progress leaps (a pause) to 12:40:30: the look-back (12:10 on) no longer holds the slot's newest floor before
        // 12:39, 11:58's, which a late minute in between, 12:20, must still chain from.
        var leap = Partial(Day.AddHours(12).AddMinutes(39).ToUnixTimeMilliseconds(), 0, random, bids: 300, top: 4_000_000);
        await InsertSlotMinutes(store, database, [leap]);
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddMinutes(40).AddSeconds(30));
        Assert.Equal(1, await runner.CycleAsync());
        var gap = Partial(Day.AddHours(12).AddMinutes(20).ToUnixTimeMilliseconds(), 1, random, bids: 300, top: 8_000_000);
        await InsertSlotMinutes(store, database, [gap]);
        Assert.Equal(2, await runner.CycleAsync()); // 12:20, and 12:39 after it
        AssertChain(database, [.. partials, leap, gap]);
    }

    /// <summary>The store, with the text of every query it was asked.</summary>
    private sealed class QueryLog(IClickHouseStore inner) : IClickHouseStore
    {
        public List<string> Queries { get; } = [];

        public string Description => inner.Description;

        public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default) => inner.ExecuteAsync(sql, cancellationToken);

        public Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default)
        {
            lock (Queries)
            {
                Queries.Add(sql);
            }

            return inner.QueryAsync(sql, cancellationToken);
        }

        public Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default) => inner.QueryJsonRowsAsync(sql, cancellationToken);

        public Task InsertAsync(string table, Apache.Arrow.RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default) =>
            inner.InsertAsync(table, batch, deduplicationToken, logComment, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    [Fact]
    public async Task The_chain_continues_from_the_floor_stored_before_the_look_back()
    {
        // 35 minutes (11:30-12:04); the first cycle at 12:00:30 covers the look-back 11:30-11:59, the second at
        // 12:05:30 recomputes 11:35-12:04 from what is stored before 11:35: floors of 11:32-11:34, and before them
        // two minutes too thin for any recommendation (NULL in the view, which must neither be taken as a floor nor
        // break the read), with 11:33 thin again (it keeps 11:32's floor).
        var (runner, store, database) = await StartAsync("floorchain", progress: false);
        var random = new Random(5);
        var partials = Enumerable.Range(0, 35).Select(i => Partial(Day.AddHours(11).AddMinutes(30 + i).ToUnixTimeMilliseconds(), 0, random,
            bids: i is < 2 or 3 ? 50 : 300, top: 2_000_000 + i * 200_000)).ToList();
        await InsertSlotMinutes(store, database, partials);
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddSeconds(30));
        Assert.Equal(30, await runner.CycleAsync());
        // Runners started later read what is stored before their look-back (a started runner holds nothing): at
        // 12:01:30 that is 11:30 alone, undefined; at 12:05:30 11:30-11:34.
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddMinutes(1).AddSeconds(30));
        var started = await DynamicPricingWork.StartAsync(Settings(database), store, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(1, await started.CycleAsync()); // 12:00, newly closed; the rest as stored
        await StoreProgress(store, database, BidLandscapeJob.JobName, Day.AddHours(12).AddMinutes(5).AddSeconds(30));
        started = await DynamicPricingWork.StartAsync(Settings(database), store, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(4, await started.CycleAsync());
        AssertChain(database, partials);
        Assert.Equal(0, await runner.CycleAsync()); // the first runner, from what it holds: nothing changed
        AssertChain(database, partials);
    }

    private static async Task InsertSlotMinutes(IClickHouseStore store, string database, List<WindowResult<int, SlotMinute>> results)
    {
        var symbols = new SymbolTable();
        symbols.Intern("slot-1");
        foreach (var rows in new BidLandscapeJob().Results(new Utf8Names(symbols)).ToRows(results))
        {
            await store.InsertAsync($"{database}.{rows.Table}", rows.Rows, null);
        }
    }

    /// <summary>A checkpoint of <paramref name="job"/> whose watermark says its results are complete up to <paramref name="watermark"/>.</summary>
    private static async Task StoreProgress(IClickHouseStore store, string database, string job, DateTimeOffset watermark, int partition = 0)
    {
        var checkpoints = new CheckpointStore(store, database, job, "ad-events");
        var claim = (await checkpoints.ClaimAsync("ad-events", [partition]))[partition];
        await checkpoints.SaveAsync(new Checkpoint([new PartitionCheckpoint(partition, 100, [], 1) { Generation = claim.Generation, WatermarkMs = watermark.ToUnixTimeMilliseconds() }]));
    }

    /// <summary>The floor view equals FloorRecommender's chain over each minute's partials added up.</summary>
    private void AssertChain(string database, List<WindowResult<int, SlotMinute>> partials)
    {
        var sketch = new QuantileSketch(SlotMinuteAggregator.RelativeAccuracy);
        FloorRecommendation? previous = null;
        var expected = new List<string>();
        foreach (var minute in partials.GroupBy(p => p.WindowStartMs).OrderBy(g => g.Key))
        {
            var histogram = minute.SelectMany(p => p.Value.BidBuckets).GroupBy(b => b.Bucket).OrderBy(b => b.Key)
                .Select(b => (sketch.ValueOf(b.Key), b.Sum(x => x.Count))).ToList();
            var next = FloorRecommender.Next(previous, histogram, new FloorPolicy());
            previous = next;
            expected.Add(string.Create(CultureInfo.InvariantCulture, $"{minute.Key / 1000} {next.Samples} {next.RecommendedMicros:F3} {next.OptimalMicros:F3}"));
        }

        var actual = clickHouse.Store.QueryText(
                $"SELECT toUnixTimestamp(window_start), samples, recommended_floor_micros, optimal_floor_micros FROM {database}.floor_recommendation WHERE slot = 'slot-1' ORDER BY window_start")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t'))
            .Select(f => string.Create(CultureInfo.InvariantCulture, $"{f[0]} {f[1]} {Double(f[2]):F3} {Double(f[3]):F3}"));
        Assert.Equal(expected, actual);
    }

    private static WindowResult<int, SlotMinute> Partial(long minute, int partition, Random random, int bids, int top)
    {
        var sketch = new QuantileSketch(SlotMinuteAggregator.RelativeAccuracy);
        for (var i = 0; i < bids; i++)
        {
            sketch.Add(1 + random.NextDouble() * top);
        }

        var value = new SlotMinute(bids, 0, [.. sketch.Buckets()], [], 0, 0, 0, 0, []);
        return new WindowResult<int, SlotMinute>(1, minute, minute + 60_000, value, bids, WindowEmission.Final, partition);
    }

    private async Task<(DynamicPricingWork Runner, IClickHouseStore Store, string Database)> StartAsync(
        string prefix, LivePublisher? live = null, bool progress = true, TimeSpan? settle = null)
    {
        var database = clickHouse.CreateDatabase(prefix);
        var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        var runner = await DynamicPricingWork.StartAsync(Settings(database, settle), store, NullLogger.Instance, CancellationToken.None, live);
        if (progress)
        {
            await StoreProgress(store, database, BidLandscapeJob.JobName, Now);
            await StoreProgress(store, database, AdMetricsJob.JobName, Now);
        }

        return (runner, store, database);
    }

    private static DynamicPricingOptions Settings(string database, TimeSpan? settle = null) => new()
    {
        Database = database,
        Policy = new FloorPolicy { MinSamples = 200 },
        InputSettleTime = settle ?? new DynamicPricingOptions().InputSettleTime,
    };

    /// <summary>A number of a view's TSV; NULL (\N, an undefined value) as NaN, what the recommender says for one.</summary>
    private static double Double(string text) => text == "\\N" ? double.NaN : double.Parse(text, CultureInfo.InvariantCulture);
}
