using StreamEngine.AdEvents;
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
        // A result carries only the parts that changed since the one before, each a row of campaign_breakdown_results:
        // per partition the part's newest version, added up over partitions.
        var stored = driver.Store.Written
            .SelectMany(r => r.Value.Breakdown.Select(part => (Row: r, Part: part.Key, part.Value)))
            .GroupBy(p => (p.Row.Key, p.Row.WindowStartMs, p.Row.Partition, p.Part))
            .Select(g => g.MaxBy(p => p.Row.Version))
            .GroupBy(p => Part(symbols.Name(p.Row.Key), p.Row.WindowStartMs, symbols.Name(p.Part.Ad), p.Part.Country, p.Part.Device))
            .ToDictionary(g => g.Key, g => Line(g.Sum(p => p.Value.Bids), g.Sum(p => p.Value.Wins), g.Sum(p => p.Value.Impressions),
                g.Sum(p => p.Value.Clicks), g.Sum(p => p.Value.Conversions), g.Sum(p => p.Value.SpendMicros)));
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), stored.OrderBy(s => s.Key, StringComparer.Ordinal));
    }

    private static string Part(string campaign, long minute, string ad, ushort country, DeviceType device) =>
        $"{campaign} {minute} {ad} {Codes.Unpack(country)} {device}";

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
