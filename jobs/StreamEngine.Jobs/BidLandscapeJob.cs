using System.Globalization;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Results;

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

    /// <summary>
    /// <c>ads.slot_minute</c>: counts add up; the price distributions are stored as the sketch's bucket counts and added
    /// up bucket by bucket before the view reads quantiles from them; the floor minimum and maximum are over the
    /// partitions that saw a floor.
    /// </summary>
    public override IReadOnlyList<ResultTable<int, SlotMinute>> Results(Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(names);
        return
        [
            ResultTable.Of<int, SlotMinute>("slot_minute")
                .Key("slot", ColumnType.Utf8, names.Of)
                .Sum("bids", ColumnType.UInt64, v => v.Bids)
                .Sum("wins", ColumnType.UInt64, v => v.Wins)
                .Derived("win_rate", "if(bids = 0, 0, wins / bids)")
                .BucketCounts("bid", "bid_buckets", ColumnType.Int16, "bid_counts", v => v.BidBuckets)
                .BucketCounts("clearing", "clearing_buckets", ColumnType.Int16, "clearing_counts", v => v.ClearingBuckets)
                .Derived("bid_p50_micros", Quantile("bid", 0.5))
                .Derived("bid_p90_micros", Quantile("bid", 0.9))
                .Derived("bid_p99_micros", Quantile("bid", 0.99))
                .Derived("clearing_p50_micros", Quantile("clearing", 0.5))
                .Derived("clearing_p90_micros", Quantile("clearing", 0.9))
                .Derived("clearing_p99_micros", Quantile("clearing", 0.99))
                .Column("floor_count", ColumnType.UInt64, v => v.FloorCount, Merge.Sum, shownAs: "bids_with_floor")
                .Stored("floor_sum_micros", ColumnType.Int64, v => v.FloorSumMicros, Merge.Sum)
                .Derived("floor_avg_micros", "if(floor_count = 0, NULL, floor_sum_micros / floor_count)")
                .Column("floor_min_micros", ColumnType.Int64, v => v.FloorMinMicros, Merge.Min.WherePositive("floor_count"))
                .Column("floor_max_micros", ColumnType.Int64, v => v.FloorMaxMicros, Merge.Max.WherePositive("floor_count"))
                .BucketCounts("density", "density_bounds", ColumnType.UInt32, "density_counts", v => v.BidDensity)
                .Derived("bid_density", "mapFromArrays(density.1, density.2)")
                .Build(),
        ];
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
                        // null without values, as the view's NULL (never a made-up 0)
                        if (Quantile(sketch, buckets, q) is { } value)
                        {
                            json.WriteNumber($"{name}_{label}_micros", value);
                        }
                        else
                        {
                            json.WriteNull($"{name}_{label}_micros");
                        }
                    }
                }

                // The clearing-price buckets ("bucket:count,..."), so subscribers can add partitions up and read exact-to-1% quantiles.
                json.WriteString("clearing_buckets", string.Join(',', v.ClearingBuckets.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Bucket}:{b.Count}"))));
                json.WriteBoolean("final", r.IsFinal);
            }))
            {
                Volume = v.Bids,
                Partition = r.Partition,
            };
        }
    }

    /// <summary>A quantile of exported buckets, by the sketch's rule (null when there are none).</summary>
    private static double? Quantile(Core.Sketches.QuantileSketch sketch, IReadOnlyList<(int Bucket, long Count)> buckets, double q)
    {
        var total = buckets.Sum(b => b.Count);
        if (total == 0)
        {
            return null;
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
    /// bucket holding rank floor(q * (n - 1)), reported as its midpoint, as <see cref="Core.Sketches.QuantileSketch"/> does,
    /// rounded to whole micros; NULL without values (an analyst's avg() or max() then skips the minute, where nan
    /// would poison it).
    /// </summary>
    private static string Quantile(string merged, double q)
    {
        var gamma = (1 + SlotMinuteAggregator.RelativeAccuracy) / (1 - SlotMinuteAggregator.RelativeAccuracy);
        var bucket = string.Create(CultureInfo.InvariantCulture,
            $"arrayElement({merged}.1, arrayFirstIndex(c -> c > floor({q} * (arraySum({merged}.2) - 1)), arrayCumSum({merged}.2)))");
        return string.Create(CultureInfo.InvariantCulture,
            $"if(arraySum({merged}.2) = 0, NULL, toInt64(round(if({bucket} = {SlotMinuteAggregator.ZeroBucket}, 0, 2 * pow({gamma:R}, {bucket}) / {gamma + 1:R}))))");
    }
}
