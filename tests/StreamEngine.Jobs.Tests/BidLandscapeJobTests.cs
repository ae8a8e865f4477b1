using System.Text.Json;
using StreamEngine.AdEvents;
using StreamEngine.Runtime.Testing;
using static StreamEngine.Jobs.Tests.DriverRuns;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// <c>bid-landscape</c> in process through the job test driver, against a brute force written here: per slot and
/// minute, the partials added up over partitions (as <c>ads.slot_minute</c> does) have exactly the bids, wins, floor
/// statistics, density steps and price-bucket counts of the distinct events, and each partial's live p50/p90/p99 are
/// within the sketch's 1% of the exact ones; in a clean run and after a crash at any step of a checkpoint.
/// </summary>
public sealed class BidLandscapeJobTests
{
    // The documented sketch: gamma = (1 + 1%) / (1 - 1%), a price v > 0 in bucket ceil(log_gamma v), 0 in bucket -32768.
    private const double Accuracy = 0.01;
    private const int ZeroBucket = -32768;
    private static readonly double Gamma = (1 + Accuracy) / (1 - Accuracy);

    [Fact]
    public void A_slot_minute_reads_back_from_its_compact_snapshot_layout_and_from_the_fixed_one_older_snapshots_have()
    {
        var aggregator = new SlotMinuteAggregator();
        var random = new Random(5);
        var counters = new SlotCounters { Bids = 42, Wins = 7, FloorCount = 30, FloorSumMicros = 9_000_000, FloorMinMicros = 100_000, FloorMaxMicros = 900_000 };
        counters.BidPrices.Add(0);
        for (var i = 0; i < 41; i++)
        {
            var bid = random.Next(1, 30_000_000);
            counters.BidPrices.Add(bid);
            counters.Density[Math.Min(bid / 250_000, 80)]++;
        }

        for (var i = 0; i < 7; i++)
        {
            counters.ClearingPrices.Add(random.NextDouble() * 5); // below 1: buckets below zero
        }

        foreach (var original in new[] { counters, aggregator.Create() })
        {
            var compact = Bytes(w => aggregator.Write(w, original));
            // The layout before the compact one, as 0.x snapshots hold it: fixed-width numbers, all 81 density steps.
            var fixedWidth = Bytes(w =>
            {
                w.Write(original.Bids);
                w.Write(original.Wins);
                original.BidPrices.Write(w);
                original.ClearingPrices.Write(w);
                w.Write(original.FloorCount);
                w.Write(original.FloorSumMicros);
                w.Write(original.FloorMinMicros);
                w.Write(original.FloorMaxMicros);
                foreach (var count in original.Density)
                {
                    w.Write(count);
                }
            });
            foreach (var bytes in new[] { compact, fixedWidth })
            {
                using var stream = new MemoryStream(bytes);
                var read = aggregator.Read(new BinaryReader(stream));
                Assert.Equal(bytes.Length, stream.Position);
                Assert.Equal(Text(aggregator.Result(original)), Text(aggregator.Result(read)));
                Assert.Equal((original.BidPrices.Count, original.BidPrices.ZeroCount, original.FloorMinMicros), (read.BidPrices.Count, read.BidPrices.ZeroCount, read.FloorMinMicros));
            }

            Assert.True(compact.Length * 4 < fixedWidth.Length, $"compact {compact.Length} bytes, fixed {fixedWidth.Length}");
        }

        static byte[] Bytes(Action<BinaryWriter> write)
        {
            using var buffer = new MemoryStream();
            using (var writer = new BinaryWriter(buffer))
            {
                write(writer);
            }

            return buffer.ToArray();
        }

        static string Text(SlotMinute m) =>
            $"{m.Bids} {m.Wins} [{string.Join(",", m.BidBuckets)}] [{string.Join(",", m.ClearingBuckets)}] {m.FloorCount} {m.FloorSumMicros} " +
            $"{m.FloorMinMicros} {m.FloorMaxMicros} [{string.Join(",", m.BidDensity)}]";
    }

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
    public void The_live_quantiles_of_each_partial_are_within_one_percent_of_the_exact_ones(CrashPoint crash)
    {
        var (symbols, logs) = Traffic(seed: 31 + (int)crash);
        var driver = Run(new BidLandscapeJob(), symbols, logs, crash);

        // Per partition: a retried send repeats an event in its own partition only.
        var prices = Enumerable.Range(0, Partitions).SelectMany(p => logs[p].DistinctBy(e => e.Id).Select(e => (Partition: p, Event: e)))
            .Where(x => x.Event.Type is AdEventType.Bid or AdEventType.Win)
            .ToLookup(x => (x.Event.Placement, Minute(x.Event.TimestampMs), x.Partition, x.Event.Type), x => x.Event.Type == AdEventType.Bid ? x.Event.BidMicros : x.Event.PriceMicros);
        var job = new BidLandscapeJob();
        var checkedQuantiles = 0;
        foreach (var partial in driver.Store.Rows.Values)
        {
            var live = JsonDocument.Parse(job.Live([partial], symbols).Single().Json).RootElement;
            foreach (var (name, type) in new[] { ("bid", AdEventType.Bid), ("clearing", AdEventType.Win) })
            {
                var exact = prices[(partial.Key, partial.WindowStartMs, partial.Partition, type)].Order().ToList();
                foreach (var (label, q) in new[] { ("p50", 0.5), ("p90", 0.9), ("p99", 0.99) })
                {
                    var estimate = live.GetProperty($"{name}_{label}_micros").GetDouble();
                    if (exact.Count == 0)
                    {
                        Assert.Equal(0, estimate);
                        continue;
                    }

                    // The value of rank floor(q * (n - 1)) among the partition's prices, as the view reads ranks.
                    var value = exact[(int)Math.Floor(q * (exact.Count - 1))];
                    Assert.True(Math.Abs(estimate - value) <= Accuracy * value + 1e-6,
                        $"{symbols.Name(partial.Key)} {partial.WindowStartMs} partition {partial.Partition} {name} {label}: {estimate:F0} for {value}");
                    checkedQuantiles++;
                }
            }
        }

        Assert.True(checkedQuantiles >= 3 * 4 * 4 * Partitions, $"only {checkedQuantiles} quantiles were checked"); // 4 slots, at least 4 minutes
    }

    private static int Bucket(long micros) => micros == 0 ? ZeroBucket : (int)Math.Ceiling(Math.Log(micros) / Math.Log(Gamma));

    private static string Histogram(IEnumerable<long> values) => Merged(values.Select(v => (v, 1L)));

    private static string Merged(IEnumerable<(long Key, long Count)> counts) =>
        string.Join(',', counts.GroupBy(c => c.Key).Where(g => g.Sum(c => c.Count) > 0).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Sum(c => c.Count)}"));

    private static string Line(long bids, long wins, long floorCount, long floorSum, long floorMin, long floorMax, string density, string bidBuckets, string clearingBuckets) =>
        $"bids {bids}, wins {wins}, floors {floorCount} sum {floorSum} min {floorMin} max {floorMax}; density {density}; bid buckets {bidBuckets}; clearing buckets {clearingBuckets}";
}
