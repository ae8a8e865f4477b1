using StreamEngine.AdEvents;
using StreamEngine.Runtime.Testing;
using static StreamEngine.Jobs.Tests.DriverRuns;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// <c>bid-landscape</c> in process through the job test driver, against a brute force written here: per slot and
/// minute, the partials added up over partitions (as <c>ads.slot_minute</c> does) have exactly the bids, wins, floor
/// statistics, density steps and price-bucket counts of the distinct events, and the quantiles read from the merged
/// buckets are within the sketch's 1% of the exact ones; in a clean run and after a crash at any step of a checkpoint.
/// </summary>
public sealed class BidLandscapeJobTests
{
    // The documented sketch: gamma = (1 + 1%) / (1 - 1%), a price v > 0 in bucket ceil(log_gamma v), 0 in bucket -32768.
    private const double Accuracy = 0.01;
    private const int ZeroBucket = -32768;
    private static readonly double Gamma = (1 + Accuracy) / (1 - Accuracy);

    [Theory]
    [MemberData(nameof(CrashPoints), MemberType = typeof(DriverRuns))]
    public void Each_slot_minute_has_the_counts_floors_density_and_price_buckets_of_its_distinct_bids_and_wins(CrashPoint crash)
    {
        var (symbols, logs) = Traffic(seed: 21 + (int)crash);
        var driver = Run(new BidLandscapeJob(), symbols, logs, crash);

        var expected = Distinct(logs).Where(e => e.Type is AdEventType.Bid or AdEventType.Win)
            .GroupBy(e => $"{symbols.Name(e.Placement)} {Minute(e.TimestampMs)}")
            .ToDictionary(g => g.Key, g =>
            {
                var bids = g.Where(e => e.Type == AdEventType.Bid).ToList();
                var floors = bids.Where(b => b.FloorMicros >= 0).Select(b => b.FloorMicros).ToList();
                return Line(bids.Count, g.Count(e => e.Type == AdEventType.Win), floors.Count, floors.Sum(), floors.DefaultIfEmpty().Min(), floors.DefaultIfEmpty().Max(),
                    Histogram(bids.Select(b => Math.Min(b.BidMicros / 250_000, 80) * 250_000)),
                    Histogram(bids.Select(b => (long)Bucket(b.BidMicros))),
                    Histogram(g.Where(e => e.Type == AdEventType.Win).Select(w => (long)Bucket(w.PriceMicros))));
            });
        var stored = driver.Store.Rows.Values
            .GroupBy(r => $"{symbols.Name(r.Key)} {r.WindowStartMs}")
            .ToDictionary(g => g.Key, g =>
            {
                var withFloors = g.Where(r => r.Value.FloorCount > 0).ToList();
                return Line(g.Sum(r => r.Value.Bids), g.Sum(r => r.Value.Wins), g.Sum(r => r.Value.FloorCount), g.Sum(r => r.Value.FloorSumMicros),
                    withFloors.Select(r => r.Value.FloorMinMicros).DefaultIfEmpty().Min(), withFloors.Select(r => r.Value.FloorMaxMicros).DefaultIfEmpty().Max(),
                    Merged(g.SelectMany(r => r.Value.BidDensity)),
                    Merged(g.SelectMany(r => r.Value.BidBuckets.Select(b => ((long)b.Bucket, b.Count)))),
                    Merged(g.SelectMany(r => r.Value.ClearingBuckets.Select(b => ((long)b.Bucket, b.Count)))));
            });
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), stored.OrderBy(s => s.Key, StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(CrashPoints), MemberType = typeof(DriverRuns))]
    public void Quantiles_of_the_merged_partials_are_within_one_percent_of_the_exact_ones(CrashPoint crash)
    {
        var (symbols, logs) = Traffic(seed: 31 + (int)crash);
        var driver = Run(new BidLandscapeJob(), symbols, logs, crash);

        var bids = Distinct(logs).Where(e => e.Type == AdEventType.Bid).ToLookup(e => (e.Placement, Minute(e.TimestampMs)), e => e.BidMicros);
        var checkedQuantiles = 0;
        foreach (var window in driver.Store.Rows.Values.GroupBy(r => (r.Key, r.WindowStartMs)))
        {
            var merged = window.SelectMany(r => r.Value.BidBuckets).GroupBy(b => b.Bucket).OrderBy(b => b.Key).Select(b => (Bucket: b.Key, Count: b.Sum(x => x.Count))).ToList();
            var exact = bids[window.Key].Order().ToList();
            Assert.Equal(exact.Count, merged.Sum(b => b.Count));
            foreach (var q in new[] { 0.5, 0.9, 0.99 })
            {
                // The view's rule: the bucket holding the value of rank floor(q * (n - 1)), read as 2 gamma^b / (gamma + 1).
                var rank = (long)Math.Floor(q * (exact.Count - 1));
                var cumulative = 0L;
                var bucket = merged.First(b => (cumulative += b.Count) > rank).Bucket;
                var estimate = bucket == ZeroBucket ? 0 : 2 * Math.Pow(Gamma, bucket) / (Gamma + 1);
                Assert.True(Math.Abs(estimate - exact[(int)rank]) <= Accuracy * exact[(int)rank] + 1e-6,
                    $"{symbols.Name(window.Key.Key)} {window.Key.WindowStartMs} p{q * 100}: {estimate:F0} for {exact[(int)rank]}");
                checkedQuantiles++;
            }
        }

        Assert.True(checkedQuantiles >= 3 * 4 * 4, $"only {checkedQuantiles} quantiles were checked"); // 4 slots, at least 4 minutes
    }

    private static int Bucket(long micros) => micros == 0 ? ZeroBucket : (int)Math.Ceiling(Math.Log(micros) / Math.Log(Gamma));

    private static string Histogram(IEnumerable<long> values) => Merged(values.Select(v => (v, 1L)));

    private static string Merged(IEnumerable<(long Key, long Count)> counts) =>
        string.Join(',', counts.GroupBy(c => c.Key).Where(g => g.Sum(c => c.Count) > 0).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Sum(c => c.Count)}"));

    private static string Line(long bids, long wins, long floorCount, long floorSum, long floorMin, long floorMax, string density, string bidBuckets, string clearingBuckets) =>
        $"bids {bids}, wins {wins}, floors {floorCount} sum {floorSum} min {floorMin} max {floorMax}; density {density}; bid buckets {bidBuckets}; clearing buckets {clearingBuckets}";
}
