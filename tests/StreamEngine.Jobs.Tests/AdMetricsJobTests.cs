using Apache.Arrow;
using StreamEngine.AdEvents;
using StreamEngine.Runtime.Results;
using StreamEngine.Runtime.Testing;
using static StreamEngine.Jobs.Tests.DriverRuns;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// <c>ad-metrics</c> in process through the job test driver: per campaign and minute, and per campaign, minute,
/// creative, country and device, its results added up over the partitions equal a brute-force count written here
/// (every distinct event id once, spend as price/1000 per impression), in a clean run and when a process crashes at
/// any step of a checkpoint and another restores the partitions and finishes them.
/// </summary>
public sealed class AdMetricsJobTests
{
    [Fact]
    public void A_campaign_minute_reads_back_from_its_compact_snapshot_layout_and_from_the_fixed_ones_older_snapshots_have()
    {
        var symbols = new SymbolTable();
        var aggregator = new CampaignMinuteAggregator(symbols);
        var counters = aggregator.Create();
        counters.Totals = new EventCounts(120, 30, 25, 3, 1, 41_250);
        for (var user = 0UL; user < 60; user++)
        {
            counters.Users.Add(user * 0x9E3779B97F4A7C15UL);
        }

        var parts = new[]
        {
            (new BreakdownKey(symbols.Intern("ad-1"), 276, DeviceType.Mobile), new EventCounts(0, 0, 20, 2, 1, 33_000), true),
            (new BreakdownKey(symbols.Intern("ad-2"), 840, DeviceType.Ctv), new EventCounts(0, 0, 5, 1, 0, 8_250), false),
            (new BreakdownKey(symbols.Intern("ad-ü"), ushort.MaxValue, DeviceType.Unknown), new EventCounts(0, 0, 0, 0, 0, 0), true),
        };
        foreach (var (key, counts, changed) in parts)
        {
            counters.Set(key, counts, changed);
        }

        // The layouts before the compact one: fixed-width counts, the parts with their changed flags (after -1) or without.
        byte[] Fixed(bool flags) => Bytes(w =>
        {
            counters.Totals.Write(w);
            counters.Users.Write(w);
            if (flags)
            {
                w.Write(-1);
            }

            w.Write(parts.Length);
            foreach (var (key, counts, changed) in parts)
            {
                w.Write(symbols.Name(key.Ad));
                w.Write(key.Country);
                w.Write((byte)key.Device);
                counts.Write(w);
                if (flags)
                {
                    w.Write(changed);
                }
            }
        });
        var compact = Bytes(w => aggregator.Write(w, counters));
        foreach (var (bytes, changedParts) in new[] { (compact, 2), (Fixed(flags: true), 2), (Fixed(flags: false), 3) })
        {
            using var stream = new MemoryStream(bytes);
            var read = aggregator.Read(new BinaryReader(stream));
            Assert.Equal(bytes.Length, stream.Position);
            Assert.Equal(counters.Totals, read.Totals);
            Assert.Equal(counters.Users.Estimate(), read.Users.Estimate());
            Assert.Equal(parts.Select(p => (p.Item1, p.Item2)), read.Breakdown.Select(b => (b.Key, b.Value)).OrderBy(b => System.Array.FindIndex(parts, p => p.Item1 == b.Key)));
            Assert.Equal(changedParts, read.ChangedCount); // an older layout has no flags: every part counts as changed
            Assert.Equal(parts.Select(p => p.Item3 || changedParts == 3), parts.Select(p => read.HasChanged(p.Item1)));
        }

        // The counts of a few events take a byte each, not eight: 7 x 7 bytes fewer for the totals and each part.
        Assert.True(compact.Length + 4 * 35 < Fixed(flags: true).Length, $"compact {compact.Length} bytes, fixed {Fixed(flags: true).Length}");

        static byte[] Bytes(Action<BinaryWriter> write)
        {
            using var buffer = new MemoryStream();
            using (var writer = new BinaryWriter(buffer))
            {
                write(writer);
            }

            return buffer.ToArray();
        }
    }

    [Theory]
    [MemberData(nameof(CrashPoints), MemberType = typeof(DriverRuns))]
    public void Every_event_counts_once_per_campaign_and_minute(CrashPoint crash)
    {
        var (symbols, logs) = Traffic(seed: 3 + (int)crash);
        var driver = Run(new AdMetricsJob(), symbols, logs, crash);

        var expected = Distinct(logs)
            .GroupBy(e => (Campaign: symbols.Name(e.Campaign), Minute: Minute(e.TimestampMs)))
            .ToDictionary(g => $"{g.Key.Campaign} {g.Key.Minute}", Counts);
        // As the view reads them: each partition's newest version, added up over partitions.
        var stored = driver.Store.Rows.Values
            .GroupBy(r => $"{symbols.Name(r.Key)} {r.WindowStartMs}")
            .ToDictionary(g => g.Key, g => Line(g.Sum(r => r.Value.Bids), g.Sum(r => r.Value.Wins), g.Sum(r => r.Value.Impressions),
                g.Sum(r => r.Value.Clicks), g.Sum(r => r.Value.Conversions), g.Sum(r => r.Value.SpendMicros)));
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), stored.OrderBy(s => s.Key, StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(CrashPoints), MemberType = typeof(DriverRuns))]
    public void Every_event_counts_once_per_creative_country_and_device(CrashPoint crash)
    {
        var (symbols, logs) = Traffic(seed: 11 + (int)crash);
        var driver = Run(new AdMetricsJob(), symbols, logs, crash);

        var expected = Distinct(logs)
            .GroupBy(e => Part(symbols.Name(e.Campaign), Minute(e.TimestampMs), symbols.Name(e.Ad), e.Country, e.Device))
            .ToDictionary(g => g.Key, Counts);
        // A result carries only the parts that changed since the one before: the job's own rows of
        // campaign_breakdown_results for every batch written, read as the breakdown views read them (per partition
        // each part's newest version, added up over partitions).
        var tables = new AdMetricsJob().Results(new Utf8Names(symbols));
        var rows = driver.Store.Written
            .SelectMany(batch => BreakdownRows(tables.ToRows(batch).Single(t => t.Table == "campaign_breakdown_results").Rows))
            .GroupBy(row => (row.Campaign, row.Minute, row.Partition, row.Ad, row.Country, row.Device))
            .Select(g => g.MaxBy(row => row.Version)!);
        var stored = rows
            .GroupBy(row => $"{row.Campaign} {row.Minute} {row.Ad} {row.Country} {row.Device}")
            .ToDictionary(g => g.Key, g => Line(g.Sum(r => r.Bids), g.Sum(r => r.Wins), g.Sum(r => r.Impressions), g.Sum(r => r.Clicks), g.Sum(r => r.Conversions), g.Sum(r => r.Spend)));
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), stored.OrderBy(s => s.Key, StringComparer.Ordinal));
    }

    private static string Part(string campaign, long minute, string ad, ushort country, DeviceType device) =>
        $"{campaign} {minute} {ad} {Codes.Unpack(country)} {(device == DeviceType.Unknown ? "" : device.ToString().ToLowerInvariant())}"; // the wire names: "" when unknown

    private sealed record BreakdownRow(string Campaign, long Minute, int Partition, string Ad, string Country, string Device,
        long Bids, long Wins, long Impressions, long Clicks, long Conversions, long Spend, ulong Version);

    /// <summary>The rows of an Arrow batch of <c>campaign_breakdown_results</c>, by column name.</summary>
    private static IEnumerable<BreakdownRow> BreakdownRows(RecordBatch batch)
    {
        T Column<T>(string name) where T : IArrowArray => (T)batch.Column(batch.Schema.GetFieldIndex(name));
        var start = Column<TimestampArray>("window_start");
        long Count(string name, int i) => (long)Column<UInt64Array>(name).GetValue(i)!.Value;
        for (var i = 0; i < batch.Length; i++)
        {
            yield return new BreakdownRow(Column<StringArray>("campaign").GetString(i), start.GetTimestamp(i)!.Value.ToUnixTimeMilliseconds(),
                Column<Int32Array>("source_partition").GetValue(i)!.Value, Column<StringArray>("ad").GetString(i), Column<StringArray>("country").GetString(i),
                Column<StringArray>("device").GetString(i), Count("bids", i), Count("wins", i), Count("impressions", i), Count("clicks", i), Count("conversions", i),
                Column<Int64Array>("spend_micros").GetValue(i)!.Value, Column<UInt64Array>("version").GetValue(i)!.Value);
        }
    }

    private static string Counts(IEnumerable<AdEvent> events)
    {
        var list = events.ToList();
        return Line(list.Count(e => e.Type == AdEventType.Bid), list.Count(e => e.Type == AdEventType.Win), list.Count(e => e.Type == AdEventType.Impression),
            list.Count(e => e.Type == AdEventType.Click), list.Count(e => e.Type == AdEventType.Conversion),
            list.Where(e => e.Type == AdEventType.Impression).Sum(e => e.PriceMicros / 1000));
    }

    private static string Line(long bids, long wins, long impressions, long clicks, long conversions, long spend) =>
        $"bids {bids}, wins {wins}, impressions {impressions}, clicks {clicks}, conversions {conversions}, spend {spend}";
}
