using StreamEngine.AdEvents;
using StreamEngine.AdEvents.Testing;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Testing;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// Runs an ad job in process through the job test driver, over random traffic: either cleanly in one process, or with
/// a process that crashes at a step of its second checkpoint and another that restores the partitions and finishes.
/// </summary>
internal static class DriverRuns
{
    public const int Partitions = 3;
    public const long Start = 1_790_000_000_000;
    public static readonly WindowOptions Windowing = new() { WatermarkDelay = TimeSpan.FromSeconds(10), AllowedLateness = TimeSpan.FromMinutes(5) };

    /// <summary>Every crash point, <see cref="CrashPoint.None"/> for the clean run.</summary>
    public static TheoryData<CrashPoint> CrashPoints => [.. Enum.GetValues<CrashPoint>()];

    public static JobTestDriver<AdEvent, TKey, TResult> Run<TKey, TResult>(AdJob<TKey, TResult> job, SymbolTable symbols, List<AdEvent>[] logs, CrashPoint crash)
        where TKey : notnull
    {
        var run = new AdJobDriver<TKey, TResult>(job, Partitions, Windowing, Start, symbols);
        for (var p = 0; p < Partitions; p++)
        {
            run.Append(p, logs[p]);
        }

        run.Run(crash);
        var driver = run.Driver;
        Assert.All(driver.Store.Checkpoints.Values, c => Assert.Equal(logs[c.Partition].Count, c.NextOffset));
        // The last process holds every partition under the newest assignment: the second after a crash.
        Assert.All(driver.Store.Checkpoints.Values, c => Assert.Equal(crash == CrashPoint.None ? 1 : 2, c.Generation));
        return driver;
    }

    /// <summary>
    /// Random events per partition over about four and a half minutes: every type, a few campaigns, creatives,
    /// slots, countries and devices, bids with and without floors, some prices of 0, 2 s of disorder, and repeats of
    /// earlier events of the same partition (a retried send).
    /// </summary>
    public static (SymbolTable Symbols, List<AdEvent>[] Logs) Traffic(int seed)
    {
        var random = new Random(seed);
        var symbols = new SymbolTable();
        int[] Names(string prefix, int count) => [.. Enumerable.Range(0, count).Select(i => symbols.Intern($"{prefix}-{i}"))];
        var campaigns = Names("cmp", 6);
        var ads = Names("ad", 3);
        var slots = Names("slot", 4);
        ushort[] countries = [Codes.Pack2('U', 'S'), Codes.Pack2('D', 'E'), 0];
        var devices = Enum.GetValues<DeviceType>();
        var logs = Enumerable.Range(0, Partitions).Select(_ => new List<AdEvent>()).ToArray();
        var id = 0UL;
        for (var p = 0; p < Partitions; p++)
        {
            for (var i = 0; i < 900; i++)
            {
                if (i > 10 && random.NextDouble() < 0.03)
                {
                    logs[p].Add(logs[p][random.Next(logs[p].Count)] with { SourceOffset = logs[p].Count });
                    continue;
                }

                var type = (AdEventType)random.Next(5);
                logs[p].Add(new AdEvent
                {
                    Id = new UInt128(++id, 7),
                    Type = type,
                    TimestampMs = Start + i * 300L - random.Next(0, 2000),
                    Campaign = campaigns[random.Next(campaigns.Length)],
                    Ad = ads[random.Next(ads.Length)],
                    Placement = slots[random.Next(slots.Length)],
                    Publisher = symbols.Intern("pub-1"),
                    UserHash = (ulong)random.Next(1, 200),
                    Country = countries[random.Next(countries.Length)],
                    Device = devices[random.Next(devices.Length)],
                    Currency = Codes.Usd,
                    BidMicros = type is AdEventType.Bid or AdEventType.Win ? random.Next(100_000, 30_000_000) : 0,
                    PriceMicros = type is AdEventType.Win or AdEventType.Impression ? (random.Next(20) == 0 ? 0 : random.Next(50_000, 2_500_000)) : 0,
                    FloorMicros = type == AdEventType.Bid && random.Next(2) == 0 ? random.Next(0, 1_000_000) : -1,
                    SourceOffset = logs[p].Count,
                });
            }
        }

        return (symbols, logs);
    }

    /// <summary>Each distinct event once (by id), as the jobs' deduplication promises.</summary>
    public static IEnumerable<AdEvent> Distinct(List<AdEvent>[] logs) => logs.SelectMany(l => l).DistinctBy(e => e.Id);

    public static long Minute(long timestampMs) => timestampMs / 60_000 * 60_000;
}
