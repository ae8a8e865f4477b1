using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Windowing;
using StreamEngine.Jobs;
using StreamEngine.Runtime.Testing;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// <c>ad-metrics</c> in process through the job test driver: per campaign and minute, its results added up over the
/// partitions equal a brute-force count written here (every distinct event id once, spend as price/1000 per
/// impression), both in one clean run and when a process crashes half-way through a checkpoint and another restores
/// the partitions and finishes them.
/// </summary>
public sealed class AdMetricsJobTests
{
    private const int Partitions = 3;
    private const long Start = 1_790_000_000_000;
    private static readonly WindowOptions Windowing = new() { WatermarkDelay = TimeSpan.FromSeconds(10), AllowedLateness = TimeSpan.FromMinutes(5) };

    [Fact]
    public void A_clean_run_counts_every_event_once_per_campaign_and_minute()
    {
        var (symbols, logs) = Traffic(seed: 3);
        var driver = Driver(symbols, logs);
        var process = driver.Start();
        for (var p = 0; p < Partitions; p++)
        {
            process.Assign(p);
            process.Poll(p, int.MaxValue);
        }

        driver.Clock.AdvanceBy(Windowing.EmitInterval);
        Assert.True(process.Checkpoint());

        Assert.Equal(BruteForce(symbols, logs), Stored(symbols, driver));
    }

    [Fact]
    public void A_crash_half_way_through_writing_results_and_a_restore_elsewhere_count_every_event_once()
    {
        var (symbols, logs) = Traffic(seed: 5);
        var driver = Driver(symbols, logs);
        var first = driver.Start();
        for (var p = 0; p < Partitions; p++)
        {
            first.Assign(p);
            first.Poll(p, logs[p].Count / 3);
        }

        driver.Clock.AdvanceBy(Windowing.EmitInterval);
        Assert.True(first.Checkpoint());
        for (var p = 0; p < Partitions; p++)
        {
            first.Poll(p, logs[p].Count / 3);
        }

        driver.Clock.AdvanceBy(Windowing.EmitInterval);
        first.Checkpoint(CrashPoint.MidResults); // some rows of the second checkpoint are in, its offsets are not

        var second = driver.Start();
        for (var p = 0; p < Partitions; p++)
        {
            second.Assign(p);
            second.Poll(p, int.MaxValue);
        }

        driver.Clock.AdvanceBy(Windowing.EmitInterval);
        Assert.True(second.Checkpoint());

        Assert.Equal(BruteForce(symbols, logs), Stored(symbols, driver));
        Assert.All(driver.Store.Checkpoints.Values, c => Assert.Equal(2, c.Generation));
    }

    private static JobTestDriver<AdEvent, int, CampaignMinute> Driver(SymbolTable symbols, List<AdEvent>[] logs)
    {
        var job = new AdMetricsJob();
        var driver = new JobTestDriver<AdEvent, int, CampaignMinute>(Partitions,
            (events, checkpoints, clock) => job.Build(events, new JobContext(Windowing, clock, checkpoints), symbols), Start, job.KeyCodec(symbols));
        for (var p = 0; p < Partitions; p++)
        {
            driver.Append(p, logs[p]);
        }

        return driver;
    }

    /// <summary>Random events per partition over a few minutes: every type, a few campaigns, 2 s of disorder, and repeats of earlier events of the same partition.</summary>
    private static (SymbolTable Symbols, List<AdEvent>[] Logs) Traffic(int seed)
    {
        var random = new Random(seed);
        var symbols = new SymbolTable();
        var campaigns = Enumerable.Range(0, 6).Select(i => symbols.Intern($"cmp-{i}")).ToArray();
        var logs = Enumerable.Range(0, Partitions).Select(_ => new List<AdEvent>()).ToArray();
        var id = 0UL;
        for (var p = 0; p < Partitions; p++)
        {
            for (var i = 0; i < 900; i++)
            {
                if (i > 10 && random.NextDouble() < 0.03)
                {
                    logs[p].Add(logs[p][random.Next(logs[p].Count)]); // a retried send: same id, same partition
                    continue;
                }

                var type = (AdEventType)random.Next(5);
                logs[p].Add(new AdEvent
                {
                    Id = new UInt128(++id, 7),
                    Type = type,
                    TimestampMs = Start + i * 300L - random.Next(0, 2000),
                    Campaign = campaigns[random.Next(campaigns.Length)],
                    Ad = symbols.Intern($"ad-{random.Next(3)}"),
                    Placement = symbols.Intern("slot-1"),
                    Publisher = symbols.Intern("pub-1"),
                    UserHash = (ulong)random.Next(1, 200),
                    Currency = Codes.Usd,
                    BidMicros = type is AdEventType.Bid or AdEventType.Win ? random.Next(100_000, 3_000_000) : 0,
                    PriceMicros = type is AdEventType.Win or AdEventType.Impression ? random.Next(50_000, 2_500_000) : 0,
                    FloorMicros = -1,
                    SourceOffset = logs[p].Count,
                });
            }
        }

        return (symbols, logs);
    }

    /// <summary>Counted here without the engine: each distinct event once, by campaign name and UTC minute.</summary>
    private static List<string> BruteForce(SymbolTable symbols, List<AdEvent>[] logs) =>
    [
        .. logs.SelectMany(l => l).DistinctBy(e => e.Id)
            .GroupBy(e => (Campaign: symbols.Name(e.Campaign), Minute: e.TimestampMs / 60_000 * 60_000))
            .OrderBy(g => g.Key.Campaign, StringComparer.Ordinal).ThenBy(g => g.Key.Minute)
            .Select(g => Line(g.Key.Campaign, g.Key.Minute, g.Count(e => e.Type == AdEventType.Bid), g.Count(e => e.Type == AdEventType.Win),
                g.Count(e => e.Type == AdEventType.Impression), g.Count(e => e.Type == AdEventType.Click), g.Count(e => e.Type == AdEventType.Conversion),
                g.Where(e => e.Type == AdEventType.Impression).Sum(e => e.PriceMicros / 1000))),
    ];

    /// <summary>The stored rows as the view reads them: each partition's newest version, added up over partitions.</summary>
    private static List<string> Stored(SymbolTable symbols, JobTestDriver<AdEvent, int, CampaignMinute> driver) =>
    [
        .. driver.Store.Rows.Values.GroupBy(r => (Campaign: symbols.Name(r.Key), Minute: r.WindowStartMs))
            .OrderBy(g => g.Key.Campaign, StringComparer.Ordinal).ThenBy(g => g.Key.Minute)
            .Select(g => Line(g.Key.Campaign, g.Key.Minute, g.Sum(r => r.Value.Bids), g.Sum(r => r.Value.Wins), g.Sum(r => r.Value.Impressions),
                g.Sum(r => r.Value.Clicks), g.Sum(r => r.Value.Conversions), g.Sum(r => r.Value.SpendMicros))),
    ];

    private static string Line(string campaign, long minute, long bids, long wins, long impressions, long clicks, long conversions, long spend) =>
        $"{campaign} {minute}: bids {bids}, wins {wins}, impressions {impressions}, clicks {clicks}, conversions {conversions}, spend {spend}";
}
