using System.Globalization;
using StreamEngine.AdEvents;
using StreamEngine.TestOracles;
using StreamEngine.Jobs;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Jobs;

/// <summary>
/// <c>bid-landscape</c> against a brute-force computation over the same generated events: slots span all partitions
/// (messages are keyed by campaign), so <c>ads.slot_minute</c> is only right if the view merges the partitions'
/// partials correctly. Counts, floor statistics and density exactly; quantiles within the sketch's 1%.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class BidLandscapeTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly double[] Quantiles = [0.5, 0.9, 0.99];

    [Fact]
    public async Task Slot_minutes_merged_across_partitions_equal_a_brute_force_computation()
    {
        var (database, events) = await JobRun.RunAsync("bid-landscape", clickHouse.Store, "landscape",
            new TrafficOptions { Seed = 23, DuplicateFraction = 0.02, Campaigns = 40, Placements = 12 }, 30_000);
        var expected = events.Where(e => e.Type is "bid" or "win")
            .GroupBy(e => (e.MinuteStartMs / 1000, e.Slot))
            .ToDictionary(g => g.Key, g => g.ToList());

        var rows = clickHouse.Store.QueryText(
                $"SELECT toUnixTimestamp(window_start), slot, bids, wins, bid_p50_micros, bid_p90_micros, bid_p99_micros, clearing_p50_micros, " +
                $"clearing_p90_micros, clearing_p99_micros, bids_with_floor, floor_avg_micros, floor_min_micros, floor_max_micros, toString(bid_density) " +
                $"FROM {database}.slot_minute")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(f => (long.Parse(f[0], CultureInfo.InvariantCulture), f[1]));
        Assert.Equal(expected.Keys.Order(), rows.Keys.Order());
        // The slots really do span partitions: otherwise this would not test the merge.
        var partials = clickHouse.Store.QueryText($"SELECT max(n) FROM (SELECT uniqExact(source_partition) AS n FROM {database}.slot_minute_results GROUP BY window_start, slot)");
        Assert.True(int.Parse(partials.Trim(), CultureInfo.InvariantCulture) > 1, "every slot minute came from one partition");

        foreach (var (key, slotEvents) in expected)
        {
            var row = rows[key];
            var bids = slotEvents.Where(e => e.Type == "bid").ToList();
            var wins = slotEvents.Where(e => e.Type == "win").ToList();
            var floors = bids.Where(e => e.FloorMicros is not null).Select(e => e.FloorMicros!.Value).ToList();
            Assert.Equal(bids.Count.ToString(CultureInfo.InvariantCulture), row[2]);
            Assert.Equal(wins.Count.ToString(CultureInfo.InvariantCulture), row[3]);
            AssertQuantiles(bids.Select(e => e.BidMicros!.Value).ToList(), row[4..7], key);
            AssertQuantiles(wins.Select(e => e.PriceMicros!.Value).ToList(), row[7..10], key);
            Assert.Equal(floors.Count.ToString(CultureInfo.InvariantCulture), row[10]);
            if (floors.Count > 0)
            {
                Assert.Equal(floors.Average(), double.Parse(row[11], CultureInfo.InvariantCulture), 6);
                Assert.Equal(floors.Min().ToString(CultureInfo.InvariantCulture), row[12]);
                Assert.Equal(floors.Max().ToString(CultureInfo.InvariantCulture), row[13]);
            }

            var density = bids.GroupBy(e => Math.Min(e.BidMicros!.Value / SlotMinuteAggregator.DensityStepMicros, SlotMinuteAggregator.DensitySteps - 1) * SlotMinuteAggregator.DensityStepMicros)
                .OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Count()}");
            Assert.Equal("{" + string.Join(',', density) + "}", row[14]);
        }
    }

    /// <summary>p50, p90, p99 by rank floor(q * (n - 1)), as the sketch defines them, within its relative accuracy.</summary>
    private static void AssertQuantiles(List<long> values, string[] reported, (long, string) key)
    {
        if (values.Count == 0)
        {
            Assert.All(reported, r => Assert.Equal("\\N", r)); // NULL, never nan: an analyst's avg() skips it
            return;
        }

        values.Sort();
        foreach (var (q, text) in Quantiles.Zip(reported))
        {
            var exact = values[(int)Math.Floor(q * (values.Count - 1))];
            var got = double.Parse(text, CultureInfo.InvariantCulture);
            // Within the sketch's relative accuracy, and whole micros (rounded).
            Assert.True(Math.Abs(got - exact) <= exact * SlotMinuteAggregator.RelativeAccuracy + 0.5, $"{key} p{q * 100}: exact {exact}, reported {got}");
            Assert.Equal(Math.Round(got), got);
        }
    }
}
