using System.Globalization;
using Apache.Arrow;
using Microsoft.Extensions.Logging;
using StreamEngine.AdEvents;
using StreamEngine.AdEvents.Pricing;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Sketches;
using StreamEngine.Jobs;
using StreamEngine.Runtime;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Jobs.ClickHouse;

/// <summary>
/// The cycle of <c>dynamic-pricing</c> (see <see cref="DynamicPricing"/>), a scheduled job the runtime's
/// <see cref="ScheduledJob"/> runs, on event time: every <c>pricing.interval</c> it
/// reads how far the <c>bid-landscape</c> and <c>ad-metrics</c> jobs' stored results are complete (the lowest
/// watermark in their checkpoints over the partitions that have seen events), recomputes the floor recommendations of
/// the slot minutes that progress has closed, within the look-back before it, from the merged bid distributions in
/// ClickHouse, in minute order per slot (each depends on the one before; a cycle starts at the first minute whose
/// distributions were rewritten since the one before, the whole look-back every few minutes), writes those that changed, and raises an
/// alert for every closed campaign minute whose pacing status turned to over, under or exhausted. Nothing depends on
/// the wall clock: replaying yesterday's traffic gives yesterday's floors and alerts. Everything it writes is keyed
/// (slot and minute; campaign, minute and status); alerts already stored are not raised again, across restarts.
/// </summary>
public sealed class DynamicPricingWork : IScheduledWork
{
    private readonly string _database;
    private readonly string _topic;
    private readonly FloorPolicy _policy;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _lookback;
    private readonly TimeSpan _inputSettleTime;
    private readonly ILogger _log;
    private readonly TableWriter _recommendations;
    private readonly TableWriter _alerts;
    private readonly QuantileSketch _buckets = new(SlotMinuteAggregator.RelativeAccuracy);
    private readonly Dictionary<(string Slot, long Minute), (long Samples, double Recommended, long VersionMs)> _written = [];
    private readonly HashSet<(string Campaign, long Minute, string Status)> _raised = [];
    private readonly Dictionary<string, (long Minute, long Spend)> _paced = new(StringComparer.Ordinal);
    private long _rows;
    private ILiveSink? _live;

    private DynamicPricingWork(DynamicPricingOptions options, IClickHouseStore store, ILogger log)
    {
        _database = options.Database;
        _topic = options.Topic;
        _policy = options.Policy;
        _interval = options.Interval;
        _lookback = options.Lookback;
        _inputSettleTime = options.InputSettleTime;
        _log = log;
        _recommendations = Writer(store, DynamicPricing.RecommendationTable);
        _alerts = Writer(store, DynamicPricing.AlertTable);
        Description = $"job {DynamicPricing.Name}: floors and pacing from {store.Description} (database {_database}) every {_interval.TotalSeconds:0.#} s, " +
                      $"look-back {_lookback.TotalMinutes:0.#} min";
    }

    public string Name => DynamicPricing.Name;

    /// <summary>A writer whose stalls (ClickHouse down, out of disk space) are in the job's log.</summary>
    private TableWriter Writer(IClickHouseStore store, string table) => new(store, $"{_database}.{table}")
    {
        Warn = message => _log.LogWarning("job {Job}: {Message}", DynamicPricing.Name, message),
        Inform = message => _log.LogInformation("job {Job}: {Message}", DynamicPricing.Name, message),
    };

    public string Description { get; }

    public TimeSpan Interval => _interval;

    public long RowsWritten => Interlocked.Read(ref _rows);

    public IReadOnlyList<(string Table, WriterCounters Counters)> Sinks =>
        [(DynamicPricing.RecommendationTable, _recommendations.Counters), (DynamicPricing.AlertTable, _alerts.Counters)];

    /// <summary>Migrates the schemas it reads and writes, loads the campaigns file's budgets, and is ready to run.</summary>
    public static async Task<DynamicPricingWork> StartAsync(
        DynamicPricingOptions options, IClickHouseStore store, ILogger log, CancellationToken cancellationToken, ILiveSink? live = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        var runner = new DynamicPricingWork(options, store, log) { _live = live };
        // The results it reads may not exist yet: their jobs' declared tables, as those jobs would make them.
        var migrator = new SchemaMigrator(store, runner._database, options.Cluster);
        await migrator.ApplyAsync(CheckpointStore.Migrations, cancellationToken);
        foreach (var job in new IAdJob[] { new AdMetricsJob(), new BidLandscapeJob() })
        {
            await migrator.ApplyJobSchemaAsync(job.Name, job.ResultSchemas, job.Schema, cancellationToken);
        }

        await migrator.ApplyJobSchemaAsync(DynamicPricing.Name, [], DynamicPricing.Schema, cancellationToken);
        if (options.CampaignsFile is { Length: > 0 } file)
        {
            var campaigns = DynamicPricing.ReadCampaigns(file);
            await new TableWriter(store, $"{runner._database}.{DynamicPricing.BudgetTable}").WriteAsync(new RecordBatch.Builder()
                .Append("campaign", false, c => c.String(s => s.AppendRange(campaigns.Select(x => x.Campaign))))
                .Append("daily_budget_micros", false, c => c.Int64(s => s.AppendRange(campaigns.Select(x => x.DailyBudgetMicros))))
                .Build(), cancellationToken: cancellationToken);
            log.LogInformation("job {Job}: {Count} campaign budgets loaded from {File}", DynamicPricing.Name, campaigns.Count, file);
        }

        return runner;
    }

    /// <summary>One round: floors, then pacing alerts. Returns how many rows it wrote (0: nothing changed).</summary>
    public async Task<int> CycleAsync(CancellationToken cancellationToken = default) =>
        await RecommendFloorsAsync(cancellationToken) + await RaisePacingAlertsAsync(cancellationToken);

    Task<int> IScheduledWork.RunCycleAsync(CancellationToken cancellationToken) => CycleAsync(cancellationToken);

    /// <summary>
    /// How far a job's stored results are complete (epoch ms): the lowest watermark over the newest checkpoints of its
    /// partitions of the topic read (a checkpoint is stored after the results it covers); null before any, and while
    /// a claimed partition has no watermark yet (not checkpointed since it was claimed, or no events so far: its part
    /// of any minute may still come).
    /// </summary>
    private async Task<long?> StoredProgressAsync(string job, CancellationToken cancellationToken)
    {
        var fields = (await _recommendations.QueryAsync(
                $"SELECT count(), countIf(w = {long.MinValue}), minIf(w, w != {long.MinValue}), groupArrayIf(partition, w = {long.MinValue}) FROM (" +
                $"SELECT partition, argMax(watermark, {CheckpointStore.NewestFirst}) AS w FROM {ClickHouseSql.Identifier(_database)}.{CheckpointStore.TableName} " +
                $"WHERE job = {ClickHouseSql.Literal(job)} AND topic = {ClickHouseSql.Literal(_topic)} GROUP BY partition)", cancellationToken))
            .Trim().Split('\t');
        if (fields[0] == "0")
        {
            return null;
        }

        if (fields[1] != "0")
        {
            if (_waitingFor.Add((job, fields[3])))
            {
                _log.LogInformation("job {Job}: waiting for partitions {Partitions} of {Upstream} to store progress (no events checkpointed yet); minutes close when every partition has",
                    DynamicPricing.Name, fields[3], job);
            }

            return null;
        }

        // A watermark at the end of time (a drained state) says nothing about minutes: cap it.
        return Math.Min(long.Parse(fields[2], CultureInfo.InvariantCulture), DateTimeOffset.MaxValue.ToUnixTimeMilliseconds() / 2);
    }

    private readonly HashSet<(string Job, string Partitions)> _waitingFor = [];

    /// <summary>The last minute the previous cycle recomputed floors for (null before the first).</summary>
    private long? _floorsDoneUpTo;

    private const long NoneYet = long.MinValue;

    /// <summary>The newest minute with a stored floor (epoch s), or <see cref="NoneYet"/>.</summary>
    private async Task<long> StoredFloorsUpToAsync(CancellationToken cancellationToken)
    {
        var fields = (await _recommendations.QueryAsync(
            $"SELECT count(), toUnixTimestamp(max(window_start)) FROM {ClickHouseSql.Identifier(_database)}.{DynamicPricing.RecommendationTable}", cancellationToken)).Trim().Split('\t');
        return fields[0] == "0" ? NoneYet : long.Parse(fields[1], CultureInfo.InvariantCulture);
    }

    /// <summary>The most minutes one cycle recomputes (a long catch-up is taken in steps).</summary>
    private const int MaxMinutesPerCycle = 24 * 60;

    /// <summary>Start (epoch s) of the last minute whose end a progress of <paramref name="progressMs"/> has passed.</summary>
    private static long LastClosedMinute(long progressMs) => (long)Math.Floor((progressMs / 1000.0 - 60) / 60) * 60;

    /// <summary>Recomputes the look-back's closed slot minutes in order; writes the ones that changed. Returns how many.</summary>
    private async Task<int> RecommendFloorsAsync(CancellationToken cancellationToken)
    {
        if (await StoredProgressAsync(BidLandscapeJob.JobName, cancellationToken) is not { } progress)
        {
            return 0; // nothing of the bid landscape is complete yet
        }

        var db = ClickHouseSql.Identifier(_database);
        // From the look-back, or from after the last minute done (by this run, or stored by an earlier one) if progress
        // jumped further (a catch-up, a pause): no minute is skipped; a long way is taken in steps. Within the look-back,
        // the minutes before the first one whose bid distributions were rewritten since the last cycle keep their floors
        // (each floor depends only on its minute and the floor before it), so a live cycle recomputes a minute or two.
        _floorsDoneUpTo ??= await StoredFloorsUpToAsync(cancellationToken);
        var lookbackFrom = Minute(DateTimeOffset.FromUnixTimeMilliseconds(progress) - _lookback);
        var from = lookbackFrom;
        var since = _inputsChangedSince;
        _inputsChangedSince = null; // set again only by a cycle that completes: one that fails is followed by a whole one
        var (serverNowMs, firstChanged) = await FirstChangedMinuteAsync(lookbackFrom, _floorsDoneUpTo, since, cancellationToken);
        var incremental = false;
        if (_floorsDoneUpTo is { } upTo && upTo != NoneYet)
        {
            from = Math.Min(from, upTo + 60);
            var unchangedUpTo = Math.Min(upTo + 60, Math.Max(lookbackFrom, firstChanged));
            // What this process holds covers the minutes from _floorsBeforeMinute on (progress can step back).
            incremental = since is not null && unchangedUpTo >= _floorsBeforeMinute && _cyclesSinceWhole + 1 < Math.Max(1, (int)(WholeLookbackEvery / _interval));
            from = incremental ? unchangedUpTo : from;
        }

        var to = Math.Min(LastClosedMinute(progress), from + (MaxMinutesPerCycle - 1) * 60L);
        if (!incremental)
        {
            _written.Clear(); // what a failed write left here is not in the store: read it again
        }

        // What is stored (by an earlier run or another engine) decides what changed and which version comes next.
        foreach (var f in (await _recommendations.QueryAsync(
                     $"SELECT slot, toUnixTimestamp(window_start), argMax(samples, computed_at), argMax(recommended_floor_micros, computed_at), " +
                     $"toUnixTimestamp64Milli(max(computed_at)) FROM {db}.{DynamicPricing.RecommendationTable} " +
                     $"WHERE window_start >= toDateTime({from}, 'UTC') AND window_start <= toDateTime({to}, 'UTC') GROUP BY slot, window_start", cancellationToken))
                 .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')))
        {
            _written[(f[0], long.Parse(f[1], CultureInfo.InvariantCulture))] = (long.Parse(f[2], CultureInfo.InvariantCulture),
                double.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture));
        }

        var previous = incremental ? FloorsBefore(from) : await StoredFloorsBeforeAsync(from, cancellationToken);
        var minutes = await _recommendations.QueryAsync(
            $"SELECT toUnixTimestamp(window_start), slot, bid.1, bid.2 FROM (SELECT window_start, slot, sumMap(b, c) AS bid FROM (" +
            $"SELECT window_start, slot, source_partition, argMax(bid_buckets, version) AS b, argMax(bid_counts, version) AS c FROM {db}.slot_minute_results " +
            $"WHERE window_start >= toDateTime({from}, 'UTC') AND window_start <= toDateTime({to}, 'UTC') GROUP BY window_start, slot, source_partition) " +
            "GROUP BY window_start, slot) ORDER BY slot, window_start", cancellationToken);

        var rows = new List<(long Minute, string Slot, FloorRecommendation Recommendation, long VersionMs)>();
        FloorRecommendation? last = null;
        string? slot = null;
        foreach (var fields in minutes.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')))
        {
            if (fields[1] != slot)
            {
                slot = fields[1];
                last = previous.TryGetValue(slot, out var before) ? new FloorRecommendation(0, before, before, 0, 0, FloorStatus.Initial) : null;
            }

            var minute = long.Parse(fields[0], CultureInfo.InvariantCulture);
            var recommendation = FloorRecommender.Next(last, Histogram(fields[2], fields[3]), _policy);
            last = recommendation;
            var key = (slot, minute);
            if (!_written.TryGetValue(key, out var written) || written.Samples != recommendation.Samples || !written.Recommended.Equals(recommendation.RecommendedMicros))
            {
                // Versioned by the input progress it was computed at; a change at the same progress goes just above.
                var version = written.VersionMs >= progress ? written.VersionMs + 1 : progress;
                rows.Add((minute, slot, recommendation, version));
                _written[key] = (recommendation.Samples, recommendation.RecommendedMicros, version);
            }
        }

        if (rows.Count > 0)
        {
            await _recommendations.WriteAsync(RecommendationRows(rows), cancellationToken: cancellationToken);
            Interlocked.Add(ref _rows, rows.Count);
            foreach (var (minute, slotName, recommendation, _) in rows)
            {
                _live?.Offer(new LiveUpdate(AdLiveTopics.Floors, slotName, minute * 1000, FloorJson(minute, slotName, recommendation)));
            }
        }

        if (!incremental)
        {
            // What the store holds before this cycle's first minute, and nothing this process knew before.
            _floorsBefore.Clear();
            _floorsBeforeMinute = from;
            foreach (var (slotName, floor) in previous)
            {
                _floorsBefore[slotName] = (from - 60, floor);
            }
        }

        foreach (var stale in _written.Where(w => w.Key.Minute < lookbackFrom).ToList())
        {
            if (!_floorsBefore.TryGetValue(stale.Key.Slot, out var before) || before.Minute < stale.Key.Minute)
            {
                _floorsBefore[stale.Key.Slot] = (stale.Key.Minute, stale.Value.Recommended);
            }

            _written.Remove(stale.Key);
        }

        _floorsBeforeMinute = Math.Max(_floorsBeforeMinute, lookbackFrom);
        _floorsDoneUpTo = to;
        _inputsChangedSince = serverNowMs - (long)_inputSettleTime.TotalMilliseconds;
        _cyclesSinceWhole = incremental ? _cyclesSinceWhole + 1 : 0;

        return rows.Count;
    }

    /// <summary>How often the floors of the whole look-back are recomputed, not only those after new input (in cycles, at least every one).</summary>
    public static readonly TimeSpan WholeLookbackEvery = TimeSpan.FromMinutes(5);

    private int _cyclesSinceWhole;

    /// <summary>Server time (epoch ms) from which slot-minute rows are new to the next cycle; null: recompute the look-back.</summary>
    private long? _inputsChangedSince;

    /// <summary>Each slot's newest floor (minute epoch s, value) before <see cref="_floorsBeforeMinute"/>, from which on <see cref="_written"/> holds every floor.</summary>
    private readonly Dictionary<string, (long Minute, double Recommended)> _floorsBefore = new(StringComparer.Ordinal);

    private long _floorsBeforeMinute = long.MaxValue;

    /// <summary>
    /// The store's clock (epoch ms) and the first minute in [<paramref name="lookbackFrom"/>, <paramref name="doneUpTo"/>]
    /// with a slot-minute row written at or after <paramref name="sinceMs"/> (<see cref="long.MaxValue"/>: none, or
    /// nothing to compare with yet).
    /// </summary>
    private async Task<(long ServerNowMs, long FirstChanged)> FirstChangedMinuteAsync(long lookbackFrom, long? doneUpTo, long? sinceMs, CancellationToken cancellationToken)
    {
        var db = ClickHouseSql.Identifier(_database);
        var changed = $"written_at >= fromUnixTimestamp64Milli(toInt64({sinceMs ?? 0}), 'UTC')";
        var fields = (await _recommendations.QueryAsync(
                $"SELECT toUnixTimestamp64Milli(now64(3)), countIf({changed}), toUnixTimestamp(minIf(window_start, {changed})) " +
                $"FROM {db}.slot_minute_results WHERE window_start >= toDateTime({lookbackFrom}, 'UTC') " +
                $"AND window_start <= toDateTime({Math.Max(doneUpTo ?? lookbackFrom, lookbackFrom)}, 'UTC')", cancellationToken))
            .Trim().Split('\t');
        var serverNowMs = long.Parse(fields[0], CultureInfo.InvariantCulture);
        return (serverNowMs, sinceMs is null || fields[1] == "0" ? long.MaxValue : long.Parse(fields[2], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Each slot's newest stored floor before <paramref name="minute"/>. A slot whose floors there are all undefined
    /// (NULL in the view: it never had the bids for one) is left out, as it would start without one either way; a
    /// floor once defined is carried through thin minutes, so an undefined one is never newer than a defined one.
    /// </summary>
    private async Task<Dictionary<string, double>> StoredFloorsBeforeAsync(long minute, CancellationToken cancellationToken) =>
        (await _recommendations.QueryAsync(
            $"SELECT slot, argMax(recommended_floor_micros, window_start) FROM {ClickHouseSql.Identifier(_database)}.floor_recommendation " +
            $"WHERE window_start < toDateTime({minute}, 'UTC') AND recommended_floor_micros IS NOT NULL GROUP BY slot", cancellationToken))
        .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t'))
        .ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);

    /// <summary>The same as <see cref="StoredFloorsBeforeAsync"/>, from what the earlier cycles stored and read.</summary>
    private Dictionary<string, double> FloorsBefore(long minute)
    {
        var newest = new Dictionary<string, (long Minute, double Recommended)>(_floorsBefore, StringComparer.Ordinal);
        foreach (var ((slotName, at), written) in _written)
        {
            if (at < minute && (!newest.TryGetValue(slotName, out var known) || known.Minute < at))
            {
                newest[slotName] = (at, written.Recommended);
            }
        }

        return newest.ToDictionary(n => n.Key, n => n.Value.Recommended, StringComparer.Ordinal);
    }

    /// <summary>
    /// Alerts for the campaign minutes in the look-back whose status turned to over, under or exhausted, and each
    /// campaign's newest pace as a live value (<c>adtrack.pacing.campaign.CAMPAIGN</c>). Returns how many alerts were new.
    /// </summary>
    private async Task<int> RaisePacingAlertsAsync(CancellationToken cancellationToken)
    {
        if (await StoredProgressAsync(AdMetricsJob.JobName, cancellationToken) is not { } progress)
        {
            return 0;
        }

        var to = LastClosedMinute(progress);
        var from = Minute(DateTimeOffset.FromUnixTimeMilliseconds(progress) - _lookback);
        var db = ClickHouseSql.Identifier(_database);
        // Alerts already stored (by an earlier run, or another engine) are not raised again.
        foreach (var fields in (await _alerts.QueryAsync(
                     $"SELECT DISTINCT campaign, toUnixTimestamp(window_start), status FROM {db}.{DynamicPricing.AlertTable} WHERE window_start >= toDateTime({from}, 'UTC')",
                     cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')))
        {
            _raised.Add((fields[0], long.Parse(fields[1], CultureInfo.InvariantCulture), fields[2]));
        }

        var rows = (await _alerts.QueryAsync(
                $"SELECT campaign, toUnixTimestamp(window_start), status, pace_ratio, spend_today_micros, daily_budget_micros, ideal_shaped_micros, " +
                $"pacing_multiplier, throttle_probability FROM ({DynamicPricing.PacingRows(db, $"toDateTime({from - 60}, 'UTC')")}) WHERE window_start >= toDateTime({from - 60}, 'UTC') " +
                $"AND window_start <= toDateTime({to}, 'UTC') ORDER BY campaign, window_start",
                cancellationToken))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(PacingRow.Parse).ToList();
        // A status is entered when the campaign's previous row of the same UTC day had another one, or when there was
        // none (its first minute of the day, e.g. a budget spent within it). A campaign whose first row here has no
        // earlier one in the range may have one before it on the same day: read once per cycle, when first needed.
        static bool SameDay(long a, long b) => a / 86_400 == b / 86_400;
        Dictionary<string, string>? earlier = null;
        var alerts = new List<(PacingRow Row, string Previous)>();
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (row.Minute >= from && DynamicPricing.AlertingStatuses.Contains(row.Status) && !_raised.Contains((row.Campaign, row.Minute, row.Status)))
            {
                var previous = i > 0 && rows[i - 1].Campaign == row.Campaign
                    ? SameDay(rows[i - 1].Minute, row.Minute) ? rows[i - 1].Status : ""
                    : SameDay(row.Minute, from - 60) ? (earlier ??= await StatusesBeforeAsync(from - 60, cancellationToken)).GetValueOrDefault(row.Campaign, "") : "";
                if (previous != row.Status)
                {
                    alerts.Add((row, previous));
                }
            }

            var newest = i + 1 == rows.Count || rows[i + 1].Campaign != row.Campaign;
            if (newest && _live is not null && (!_paced.TryGetValue(row.Campaign, out var paced) || paced != (row.Minute, row.SpendTodayMicros)))
            {
                _paced[row.Campaign] = (row.Minute, row.SpendTodayMicros);
                _live.Offer(new LiveUpdate(AdLiveTopics.Pacing, row.Campaign, row.Minute * 1000, PaceJson(row)));
            }
        }

        _raised.RemoveWhere(r => r.Minute < from - 60);
        if (alerts.Count > 0)
        {
            await _alerts.WriteAsync(new RecordBatch.Builder()
                .Append("window_start", false, c => c.UInt32(s => s.AppendRange(alerts.Select(a => (uint)a.Row.Minute))))
                .Append("campaign", false, c => c.String(s => s.AppendRange(alerts.Select(a => a.Row.Campaign))))
                .Append("status", false, c => c.String(s => s.AppendRange(alerts.Select(a => a.Row.Status))))
                .Append("previous_status", false, c => c.String(s => s.AppendRange(alerts.Select(a => a.Previous))))
                .Append("pace_ratio", false, c => c.Double(s => s.AppendRange(alerts.Select(a => a.Row.PaceRatio))))
                .Append("spend_today_micros", false, c => c.Int64(s => s.AppendRange(alerts.Select(a => a.Row.SpendTodayMicros))))
                .Append("daily_budget_micros", false, c => c.Int64(s => s.AppendRange(alerts.Select(a => a.Row.DailyBudgetMicros))))
                .Build(), cancellationToken: cancellationToken);
        }

        // Published once stored: a failed write raises them again next time, not twice now.
        foreach (var (row, previous) in alerts)
        {
            _raised.Add((row.Campaign, row.Minute, row.Status));
            _live?.Alert(AdLiveTopics.PacingAlertSubject, row.Campaign, AlertJson(row, previous));
            _log.LogInformation("pacing alert: campaign {Campaign} is {Status} (was {Previous}) at {Minute:HH:mm} UTC, pace {Pace:0.00}",
                row.Campaign, row.Status, previous, DateTimeOffset.FromUnixTimeSeconds(row.Minute), row.PaceRatio);
        }

        return alerts.Count;
    }

    /// <summary>
    /// Each campaign's newest status on <paramref name="before"/>'s UTC day before that minute (absent: none that day).
    /// All campaigns at once, not a list of names in the query: the list would have no bound, and the day's rows are
    /// read either way.
    /// </summary>
    private async Task<Dictionary<string, string>> StatusesBeforeAsync(long before, CancellationToken cancellationToken)
    {
        var db = ClickHouseSql.Identifier(_database);
        return (await _alerts.QueryAsync(
                $"SELECT campaign, argMax(status, window_start) FROM ({DynamicPricing.PacingRows(db, $"toDateTime({before}, 'UTC')")}) " +
                $"WHERE window_start >= toStartOfDay(toDateTime({before}, 'UTC')) AND window_start < toDateTime({before}, 'UTC') GROUP BY campaign",
                cancellationToken))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1], StringComparer.Ordinal);
    }

    /// <summary>One minute of <c>ads.campaign_pacing</c>, as the runner reads it.</summary>
    private sealed record PacingRow(
        string Campaign, long Minute, string Status, double PaceRatio, long SpendTodayMicros, long DailyBudgetMicros, double IdealShapedMicros,
        double Multiplier, double ThrottleProbability)
    {
        public static PacingRow Parse(string line)
        {
            var f = line.Split('\t');
            return new PacingRow(f[0], long.Parse(f[1], CultureInfo.InvariantCulture), f[2], D(f[3]), long.Parse(f[4], CultureInfo.InvariantCulture),
                long.Parse(f[5], CultureInfo.InvariantCulture), D(f[6]), D(f[7]), D(f[8]));

            static double D(string text) => double.Parse(text, CultureInfo.InvariantCulture);
        }
    }

    /// <summary>A campaign's pace now: spend today against the traffic-shaped ideal, the multiplier and throttle, the status.</summary>
    private static byte[] PaceJson(PacingRow row) => LiveJson.Write(json =>
    {
        json.WriteString("campaign", row.Campaign);
        json.WriteString("window_start", DateTimeOffset.FromUnixTimeSeconds(row.Minute));
        json.WriteNumber("spend_today_micros", row.SpendTodayMicros);
        json.WriteNumber("ideal_spend_micros", row.IdealShapedMicros);
        json.WriteNumber("daily_budget_micros", row.DailyBudgetMicros);
        json.WriteNumber("pace_ratio", row.PaceRatio);
        json.WriteNumber("pacing_multiplier", row.Multiplier);
        json.WriteNumber("throttle_probability", row.ThrottleProbability);
        json.WriteString("status", row.Status);
    });

    private static byte[] FloorJson(long minute, string slot, FloorRecommendation r) => LiveJson.Write(json =>
    {
        json.WriteString("slot", slot);
        json.WriteString("window_start", DateTimeOffset.FromUnixTimeSeconds(minute));
        json.WriteNumber("samples", r.Samples);
        WriteNumberOrNull(json, "optimal_floor_micros", r.OptimalMicros);
        WriteNumberOrNull(json, "recommended_floor_micros", r.RecommendedMicros);
        json.WriteNumber("confidence", r.Confidence);
        json.WriteString("status", Snake(r.Status));
    });

    /// <summary>An alert: campaign, minute, status, the previous one, pace ratio, spend today and the budget.</summary>
    private static byte[] AlertJson(PacingRow row, string previousStatus) => LiveJson.Write(json =>
    {
        json.WriteString("campaign", row.Campaign);
        json.WriteString("window_start", DateTimeOffset.FromUnixTimeSeconds(row.Minute));
        json.WriteString("status", row.Status);
        json.WriteString("previous_status", previousStatus);
        json.WriteNumber("pace_ratio", row.PaceRatio);
        json.WriteNumber("spend_today_micros", row.SpendTodayMicros);
        json.WriteNumber("daily_budget_micros", row.DailyBudgetMicros);
    });

    private static void WriteNumberOrNull(System.Text.Json.Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value))
        {
            json.WriteNumber(name, value);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static long Minute(DateTimeOffset time) => time.ToUnixTimeSeconds() / 60 * 60;

    /// <summary>Bucket keys and counts as ClickHouse prints arrays (<c>[1,2,3]</c>) into (value, count), ascending.</summary>
    private List<(double Value, long Count)> Histogram(string buckets, string counts)
    {
        static IEnumerable<string> Items(string array) => array.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries);
        return [.. Items(buckets).Zip(Items(counts)).Select(p =>
        {
            var bucket = int.Parse(p.First, CultureInfo.InvariantCulture);
            return (bucket == SlotMinuteAggregator.ZeroBucket ? 0 : _buckets.ValueOf(bucket), long.Parse(p.Second, CultureInfo.InvariantCulture));
        })];
    }

    /// <summary>
    /// The rows; <c>computed_at</c> holds the version: the event time (the bid landscape's stored progress) it was
    /// computed at, so the computation from the most input wins and no version comes from the wall clock.
    /// </summary>
    private static RecordBatch RecommendationRows(List<(long Minute, string Slot, FloorRecommendation Recommendation, long VersionMs)> rows) =>
        new RecordBatch.Builder()
            .Append("window_start", false, c => c.UInt32(s => s.AppendRange(rows.Select(r => (uint)r.Minute))))
            .Append("slot", false, c => c.String(s => s.AppendRange(rows.Select(r => r.Slot))))
            .Append("samples", false, c => c.UInt64(s => s.AppendRange(rows.Select(r => (ulong)r.Recommendation.Samples))))
            .Append("optimal_floor_micros", false, c => c.Double(s => s.AppendRange(rows.Select(r => r.Recommendation.OptimalMicros))))
            .Append("recommended_floor_micros", false, c => c.Double(s => s.AppendRange(rows.Select(r => r.Recommendation.RecommendedMicros))))
            .Append("expected_revenue_per_bid_micros", false, c => c.Double(s => s.AppendRange(rows.Select(r => r.Recommendation.ExpectedRevenuePerBidMicros))))
            .Append("confidence", false, c => c.Double(s => s.AppendRange(rows.Select(r => r.Recommendation.Confidence))))
            .Append("status", false, c => c.String(s => s.AppendRange(rows.Select(r => Snake(r.Recommendation.Status)))))
            .Append("computed_at", false, ComputedAt(rows.Select(r => r.VersionMs)))
            .Build();

    private static TimestampArray ComputedAt(IEnumerable<long> versionsMs)
    {
        var column = new TimestampArray.Builder(new Apache.Arrow.Types.TimestampType(Apache.Arrow.Types.TimeUnit.Millisecond, "UTC"));
        foreach (var version in versionsMs)
        {
            column.Append(DateTimeOffset.FromUnixTimeMilliseconds(version));
        }

        return column.Build();
    }

    private static string Snake(FloorStatus status) => status switch
    {
        FloorStatus.Initial => "initial",
        FloorStatus.Updated => "updated",
        FloorStatus.StepLimited => "step_limited",
        _ => "insufficient_samples",
    };
}
