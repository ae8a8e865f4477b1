using PublisherMinute;
using StreamEngine.AdEvents;
using StreamEngine.Runtime.Testing;
using static StreamEngine.Jobs.Tests.DriverRuns;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// The example job (examples/PublisherMinuteJob) in process through the job test driver: impressions and spend per
/// publisher and minute, added up over the partitions, equal a brute-force count, in a clean run and across a crash at
/// every step of a checkpoint. Publishers span partitions here, so every minute has several partials.
/// </summary>
public sealed class PublisherMinuteJobTests
{
    [Theory]
    [MemberData(nameof(CrashPoints), MemberType = typeof(DriverRuns))]
    public void Impressions_and_spend_per_publisher_and_minute_count_each_event_once(CrashPoint crash)
    {
        var (symbols, logs) = Traffic(seed: 23 + (int)crash);
        // Three publishers by event id, so a repeated event keeps its publisher and each publisher is on every partition.
        var publishers = Enumerable.Range(0, 3).Select(i => symbols.Intern($"pub-{i}")).ToArray();
        logs = [.. logs.Select(log => log.Select(e => e with { Publisher = publishers[(int)(e.Id % 3)] }).ToList())];

        var driver = Run(new PublisherMinuteJob(), symbols, logs, crash);

        var expected = Distinct(logs).Where(e => e.Type == AdEventType.Impression)
            .GroupBy(e => $"{symbols.Name(e.Publisher)} {Minute(e.TimestampMs)}")
            .ToDictionary(g => g.Key, g => (Impressions: (long)g.Count(), Spend: g.Sum(e => e.PriceMicros / 1000)));
        var stored = driver.Store.Rows.Values
            .GroupBy(r => $"{symbols.Name(r.Key)} {r.WindowStartMs}")
            .ToDictionary(g => g.Key, g => (Impressions: g.Sum(r => r.Value.Impressions), Spend: g.Sum(r => r.Value.SpendMicros)));
        Assert.True(expected.Count >= 9, $"{expected.Count} publisher minutes");
        Assert.True(driver.Store.Rows.Values.GroupBy(r => (r.Key, r.WindowStartMs)).Any(g => g.Count() > 1), "no publisher minute had partials from several partitions");
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), stored.OrderBy(e => e.Key, StringComparer.Ordinal));
    }
}
