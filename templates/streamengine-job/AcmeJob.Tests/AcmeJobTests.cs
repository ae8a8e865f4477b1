using StreamEngine.AdEvents;
using StreamEngine.AdEvents.Testing;
using StreamEngine.Runtime.Testing;

namespace AcmeJob.Tests;

/// <summary>The job in process on the job test driver: hand-made events, results counted by hand, with and without a crash.</summary>
public sealed class AcmeJobTests
{
    private const long Minute = 60_000;
    private const long Start = 1_790_000_040_000; // a minute boundary

    public static TheoryData<CrashPoint> CrashPoints => [.. Enum.GetValues<CrashPoint>()];

    [Theory]
    [MemberData(nameof(CrashPoints))]
    public void Clicks_and_conversions_per_campaign_and_minute_are_counted_once_each(CrashPoint crash)
    {
        var driver = new AdJobDriver<int, (long Clicks, long Conversions)>(new AcmeJob(), partitions: 2, startMs: Start);
        var c1 = driver.Symbols.Intern("campaign-1");
        var c2 = driver.Symbols.Intern("campaign-2");
        AdEvent Event(ulong id, AdEventType type, int campaign, long at) => new() { Id = id, Type = type, Campaign = campaign, TimestampMs = Start + at, FloorMicros = -1 };
        driver.Append(0,
            Event(1, AdEventType.Click, c1, 1_000),
            Event(1, AdEventType.Click, c1, 1_000),            // sent twice: counted once
            Event(2, AdEventType.Impression, c1, 2_000),       // not a click or a conversion
            Event(3, AdEventType.Conversion, c1, 30_000),
            Event(4, AdEventType.Click, c2, Minute + 5_000));
        driver.Append(1,
            Event(5, AdEventType.Click, c1, 10_000),
            Event(6, AdEventType.Conversion, c2, Minute + 9_000),
            Event(7, AdEventType.Click, c2, Minute + 20_000));

        var results = driver.Run(crash);

        // Each partition writes its partial; the view adds them up, as this does.
        var totals = results
            .GroupBy(r => (Campaign: driver.Symbols.Name(r.Key), r.WindowStartMs - Start))
            .ToDictionary(g => g.Key, g => (g.Sum(r => r.Value.Clicks), g.Sum(r => r.Value.Conversions)));
        Assert.Equal(2, totals.Count);
        Assert.Equal((2L, 1L), totals[("campaign-1", 0)]);
        Assert.Equal((2L, 1L), totals[("campaign-2", Minute)]);
    }

    [Fact]
    public void The_declared_table_gets_one_row_per_campaign_minute_and_partition()
    {
        var driver = new AdJobDriver<int, (long Clicks, long Conversions)>(new AcmeJob(), startMs: Start);
        var c1 = driver.Symbols.Intern("campaign-1");
        driver.Append(0, new AdEvent { Id = 1UL, Type = AdEventType.Click, Campaign = c1, TimestampMs = Start + 1_000, FloorMicros = -1 });

        driver.Run();

        var rows = Assert.Single(driver.WrittenRows());
        Assert.Equal("acme_minute_results", rows.Table);
        Assert.Equal(["window_start", "campaign", "source_partition", "clicks", "conversions", "version", "is_final"],
            rows.Rows.Schema.FieldsList.Select(f => f.Name));
        Assert.Equal(1, rows.Rows.Length);
    }
}
