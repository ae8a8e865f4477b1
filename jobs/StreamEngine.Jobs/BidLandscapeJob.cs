using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Jobs;

/// <summary>
/// <c>bid-landscape</c>: per ad slot and minute, bids, wins, win rate, bid and clearing price quantiles (p50, p90,
/// p99), floor statistics and the bid density, into <c>ads.slot_minute</c>. Messages are keyed by campaign, so a slot's
/// bids arrive on every partition: each partition writes its partial (counts, and the price distributions as bucket
/// counts of a log-bucket sketch), and the view adds the partials bucket by bucket before it reads the quantiles, so
/// they are those of the whole slot, within the sketch's 1%, whichever processes read which partitions.
/// </summary>
public sealed class BidLandscapeJob : AdJob<int, SlotMinute>
{
    /// <summary>The job's name, for readers of its stored progress (dynamic-pricing).</summary>
    public const string JobName = "bid-landscape";

    public override string Name => JobName;

    public override string Summary =>
        "per slot and minute: bids, wins, win rate, bid and clearing price p50/p90/p99, floor statistics, bid density -> ads.slot_minute";

    public override IObservable<WindowOutput<int, SlotMinute, AdEvent>> Build(IObservable<EventBatch<AdEvent>> events, JobContext context, SymbolTable symbols) =>
        Aggregate(
            events.WithEventTime(e => e.TimestampMs)
                .Deduplicate(e => e.Id)
                .Where(e => e.Type is AdEventType.Bid or AdEventType.Win)
                .KeyBy(e => e.Placement)
                .Window(Windows.Tumbling(TimeSpan.FromMinutes(1))),
            new SlotMinuteAggregator(),
            context);

    public override KeyCodec<int> KeyCodec(SymbolTable symbols) => InternedNames(symbols);

    public override IReadOnlyList<SchemaStep> Schema { get; } =
    [
        new(201, "bid-landscape: slot_minute partials and view",
        [
            "CREATE TABLE IF NOT EXISTS {database}.slot_minute_results (window_start DateTime64(3, 'UTC'), slot String, source_partition Int32, " +
            "bids UInt64, wins UInt64, bid_buckets Array(Int16), bid_counts Array(UInt64), clearing_buckets Array(Int16), clearing_counts Array(UInt64), " +
            "floor_count UInt64, floor_sum_micros Int64, floor_min_micros Int64, floor_max_micros Int64, density_bounds Array(UInt32), density_counts Array(UInt64), " +
            "version UInt64, is_final UInt8, written_at DateTime64(3, 'UTC') DEFAULT now64(3)) " +
            "ENGINE = ReplacingMergeTree(version) ORDER BY (slot, window_start, source_partition)",
            "CREATE OR REPLACE VIEW {database}.slot_minute AS SELECT toDateTime(window_start, 'UTC') AS window_start, slot, bids, wins, " +
            "if(bids = 0, 0, wins / bids) AS win_rate, " +
            $"{Quantile("bid", 0.5)} AS bid_p50_micros, {Quantile("bid", 0.9)} AS bid_p90_micros, {Quantile("bid", 0.99)} AS bid_p99_micros, " +
            $"{Quantile("clearing", 0.5)} AS clearing_p50_micros, {Quantile("clearing", 0.9)} AS clearing_p90_micros, {Quantile("clearing", 0.99)} AS clearing_p99_micros, " +
            "floor_count AS bids_with_floor, if(floor_count = 0, nan, floor_sum_micros / floor_count) AS floor_avg_micros, floor_min_micros, floor_max_micros, " +
            "mapFromArrays(density.1, density.2) AS bid_density FROM (" +
            "SELECT window_start, slot, sum(p_bids) AS bids, sum(p_wins) AS wins, sumMap(p_bid_buckets, p_bid_counts) AS bid, " +
            "sumMap(p_clearing_buckets, p_clearing_counts) AS clearing, sum(p_floor_count) AS floor_count, sum(p_floor_sum) AS floor_sum_micros, " +
            "minIf(p_floor_min, p_floor_count > 0) AS floor_min_micros, maxIf(p_floor_max, p_floor_count > 0) AS floor_max_micros, " +
            "sumMap(p_density_bounds, p_density_counts) AS density FROM (" +
            "SELECT window_start, slot, source_partition, argMax(bids, version) AS p_bids, argMax(wins, version) AS p_wins, " +
            "argMax(bid_buckets, version) AS p_bid_buckets, argMax(bid_counts, version) AS p_bid_counts, " +
            "argMax(clearing_buckets, version) AS p_clearing_buckets, argMax(clearing_counts, version) AS p_clearing_counts, " +
            "argMax(floor_count, version) AS p_floor_count, argMax(floor_sum_micros, version) AS p_floor_sum, " +
            "argMax(floor_min_micros, version) AS p_floor_min, argMax(floor_max_micros, version) AS p_floor_max, " +
            "argMax(density_bounds, version) AS p_density_bounds, argMax(density_counts, version) AS p_density_counts " +
            "FROM {database}.slot_minute_results GROUP BY window_start, slot, source_partition) GROUP BY window_start, slot)",
        ]),
    ];

    public override IReadOnlyList<TableRows> ToRows(IReadOnlyList<WindowResult<int, SlotMinute>> results, Utf8Names names) =>
        [new("slot_minute_results", SlotRows(results.LatestPerWindow(), names))];

    private static RecordBatch SlotRows(IReadOnlyList<WindowResult<int, SlotMinute>> results, Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(names);
        var windowStart = new TimestampArray.Builder(new TimestampType(TimeUnit.Millisecond, "UTC"));
        var slot = new StringArray.Builder();
        var partition = new Int32Array.Builder();
        var counts = Enumerable.Range(0, 4).Select(_ => new UInt64Array.Builder()).ToArray(); // bids, wins, floor count, version
        var floors = Enumerable.Range(0, 3).Select(_ => new Int64Array.Builder()).ToArray();   // sum, min, max
        var bidBuckets = new BucketColumns();
        var clearingBuckets = new BucketColumns();
        var densityBounds = new ListArray.Builder(UInt32Type.Default);
        var densityCounts = new ListArray.Builder(UInt64Type.Default);
        var final = new UInt8Array.Builder();
        foreach (var r in results)
        {
            var v = r.Value;
            windowStart.Append(DateTimeOffset.FromUnixTimeMilliseconds(r.WindowStartMs));
            slot.Append(names.Of(r.Key));
            partition.Append(Math.Max(0, r.Partition));
            counts[0].Append((ulong)v.Bids);
            counts[1].Append((ulong)v.Wins);
            counts[2].Append((ulong)v.FloorCount);
            counts[3].Append((ulong)r.Version);
            floors[0].Append(v.FloorSumMicros);
            floors[1].Append(v.FloorMinMicros);
            floors[2].Append(v.FloorMaxMicros);
            bidBuckets.Append(v.BidBuckets);
            clearingBuckets.Append(v.ClearingBuckets);
            densityBounds.Append();
            densityCounts.Append();
            foreach (var (bound, count) in v.BidDensity)
            {
                ((UInt32Array.Builder)densityBounds.ValueBuilder).Append((uint)bound);
                ((UInt64Array.Builder)densityCounts.ValueBuilder).Append((ulong)count);
            }

            final.Append(r.IsFinal ? (byte)1 : (byte)0);
        }

        return new RecordBatch.Builder()
            .Append("window_start", false, windowStart.Build())
            .Append("slot", false, slot.Build())
            .Append("source_partition", false, partition.Build())
            .Append("bids", false, counts[0].Build())
            .Append("wins", false, counts[1].Build())
            .Append("bid_buckets", false, bidBuckets.Buckets.Build())
            .Append("bid_counts", false, bidBuckets.Counts.Build())
            .Append("clearing_buckets", false, clearingBuckets.Buckets.Build())
            .Append("clearing_counts", false, clearingBuckets.Counts.Build())
            .Append("floor_count", false, counts[2].Build())
            .Append("floor_sum_micros", false, floors[0].Build())
            .Append("floor_min_micros", false, floors[1].Build())
            .Append("floor_max_micros", false, floors[2].Build())
            .Append("density_bounds", false, densityBounds.Build())
            .Append("density_counts", false, densityCounts.Build())
            .Append("version", false, counts[3].Build())
            .Append("is_final", false, final.Build())
            .Build();
    }

    /// <summary>
    /// <c>adtrack.metrics.slot.SLOT</c>: this partition's partial of the slot's minute (bids, wins, win rate, bid and
    /// clearing p50/p90/p99 of the partition's bids, and the clearing-price bucket counts). A slot's bids arrive on every
    /// partition: a subscriber adds the partials of one window up by partition (counts and buckets), as
    /// <c>ads.slot_minute</c> does; a bucket b stands for 2·γ^b/(γ+1) micros, γ = 1.01/0.99, and -32768 for 0.
    /// </summary>
    public override IEnumerable<LiveUpdate> Live(IReadOnlyList<WindowResult<int, SlotMinute>> results, SymbolTable symbols)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(symbols);
        var sketch = new Core.Sketches.QuantileSketch(SlotMinuteAggregator.RelativeAccuracy);
        foreach (var r in results.LatestPerWindow())
        {
            var slot = symbols.Name(r.Key);
            var v = r.Value;
            yield return new LiveUpdate(AdLiveTopics.SlotMetrics, slot, r.WindowStartMs, LiveJson.Write(json =>
            {
                json.WriteString("slot", slot);
                json.WriteString("window_start", DateTimeOffset.FromUnixTimeMilliseconds(r.WindowStartMs));
                json.WriteNumber("partition", r.Partition);
                json.WriteNumber("bids", v.Bids);
                json.WriteNumber("wins", v.Wins);
                json.WriteNumber("win_rate", v.Bids == 0 ? 0 : (double)v.Wins / v.Bids);
                foreach (var (name, buckets) in new[] { ("bid", v.BidBuckets), ("clearing", v.ClearingBuckets) })
                {
                    foreach (var (label, q) in new[] { ("p50", 0.5), ("p90", 0.9), ("p99", 0.99) })
                    {
                        json.WriteNumber($"{name}_{label}_micros", Quantile(sketch, buckets, q));
                    }
                }

                // The clearing-price buckets ("bucket:count,..."), so subscribers can add partitions up and read exact-to-1% quantiles.
                json.WriteString("clearing_buckets", string.Join(',', v.ClearingBuckets.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Bucket}:{b.Count}"))));
                json.WriteBoolean("final", r.IsFinal);
            }))
            {
                Volume = v.Bids,
            };
        }
    }

    /// <summary>A quantile of exported buckets, by the sketch's rule (0 when there are none).</summary>
    private static double Quantile(Core.Sketches.QuantileSketch sketch, IReadOnlyList<(int Bucket, long Count)> buckets, double q)
    {
        var total = buckets.Sum(b => b.Count);
        if (total == 0)
        {
            return 0;
        }

        var rank = (long)Math.Floor(q * (total - 1));
        long seen = 0;
        foreach (var (bucket, count) in buckets)
        {
            seen += count;
            if (seen > rank)
            {
                return bucket == SlotMinuteAggregator.ZeroBucket ? 0 : sketch.ValueOf(bucket);
            }
        }

        return 0;
    }

    /// <summary>
    /// SQL for quantile <paramref name="q"/> of merged bucket counts (a tuple of sorted bucket keys and counts): the
    /// bucket holding rank floor(q * (n - 1)), reported as its midpoint, as <see cref="Core.Sketches.QuantileSketch"/> does.
    /// </summary>
    private static string Quantile(string merged, double q)
    {
        var gamma = (1 + SlotMinuteAggregator.RelativeAccuracy) / (1 - SlotMinuteAggregator.RelativeAccuracy);
        var bucket = string.Create(CultureInfo.InvariantCulture,
            $"arrayElement({merged}.1, arrayFirstIndex(c -> c > floor({q} * (arraySum({merged}.2) - 1)), arrayCumSum({merged}.2)))");
        return string.Create(CultureInfo.InvariantCulture,
            $"if(arraySum({merged}.2) = 0, nan, if({bucket} = {SlotMinuteAggregator.ZeroBucket}, 0, 2 * pow({gamma:R}, {bucket}) / {gamma + 1:R}))");
    }

    /// <summary>A histogram as two list columns: bucket keys and their counts.</summary>
    private sealed class BucketColumns
    {
        public ListArray.Builder Buckets { get; } = new(Int16Type.Default);

        public ListArray.Builder Counts { get; } = new(UInt64Type.Default);

        public void Append(IReadOnlyList<(int Bucket, long Count)> buckets)
        {
            Buckets.Append();
            Counts.Append();
            foreach (var (bucket, count) in buckets)
            {
                ((Int16Array.Builder)Buckets.ValueBuilder).Append((short)bucket);
                ((UInt64Array.Builder)Counts.ValueBuilder).Append((ulong)count);
            }
        }
    }
}
