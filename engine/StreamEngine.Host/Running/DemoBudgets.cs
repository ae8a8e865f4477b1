using StreamEngine.AdEvents;
using StreamEngine.Jobs;

namespace StreamEngine.Host.Running;

/// <summary>What a demo budget is meant to show, and by when.</summary>
public enum DemoPacing
{
    /// <summary>Over-delivers from its first minutes (pace above 1.2).</summary>
    Over,

    /// <summary>On pace (about 1.0) around its target minute.</summary>
    OnPace,

    /// <summary>Under-delivers (below 0.8) throughout a ten-minute demo.</summary>
    Under,

    /// <summary>Spends its whole budget late in the demo.</summary>
    Exhausted,
}

/// <summary>One campaign's demo budget: the plan, the minute it is aimed at, and the budget.</summary>
public sealed record DemoBudget(string Campaign, DemoPacing Plan, TimeSpan Target, long DailyBudgetMicros);

/// <summary>
/// Daily budgets for <c>streamengine demo</c>, sized from the generator's own traffic so a ten-minute demo shows
/// campaigns on pace, over and under delivering, and one exhausted only late. Pace is spend today against the
/// traffic-shaped ideal since midnight UTC (as <c>ads.campaign_pacing</c> computes it), while the demo's spend starts
/// when the demo does: a campaign's pace rises through the demo, so each budget aims at a pace at one minute of it.
/// </summary>
public static class DemoBudgets
{
    /// <summary>
    /// How long the demo plans for: no campaign but the exhausted one runs out of budget before it. Late in the UTC
    /// day this costs the early targets their pace (at 22:00 a campaign that only spent in the last minutes cannot be
    /// over its day's pace without being nearly out of budget: it reads under, then on pace).
    /// </summary>
    public static TimeSpan Horizon { get; } = TimeSpan.FromMinutes(11);

    /// <summary>
    /// Spend per second of each campaign in the traffic <paramref name="options"/> describe, from <paramref name="sample"/>
    /// of its event time (spend as the jobs count it: price / 1000 per impression).
    /// </summary>
    public static IReadOnlyDictionary<string, double> SpendPerSecond(TrafficOptions options, TimeSpan sample)
    {
        ArgumentNullException.ThrowIfNull(options);
        var generator = new TrafficGenerator(options with { StartTimeMs = 0, DuplicateFraction = 0, MalformedFraction = 0, LateFraction = 0 });
        var spend = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var message in generator.Messages())
        {
            if (message.TimestampMs > sample.TotalMilliseconds)
            {
                break;
            }

            if (message.Type == AdEventType.Impression)
            {
                spend[message.Campaign] = spend.GetValueOrDefault(message.Campaign) + (message.PriceMicros / 1000);
            }
        }

        return spend.ToDictionary(s => s.Key, s => s.Value / sample.TotalSeconds, StringComparer.Ordinal);
    }

    /// <summary>
    /// The budgets, busiest campaign first: in turn over (pace 1.6 at minute 3), on pace (1.0 at minute 4, 6, 8 or 10),
    /// under (0.5 at minute 10), and the third busiest exhausted at minute 8. <paramref name="spentToday"/> is what
    /// the store holds for today already (an earlier demo the same day).
    /// </summary>
    public static IReadOnlyList<DemoBudget> Plan(IReadOnlyDictionary<string, double> spendPerSecond, IReadOnlyDictionary<string, long> spentToday, DateTimeOffset start)
    {
        ArgumentNullException.ThrowIfNull(spendPerSecond);
        ArgumentNullException.ThrowIfNull(spentToday);
        var budgets = new List<DemoBudget>();
        var ranked = spendPerSecond.Where(s => s.Value > 0).OrderByDescending(s => s.Value).ThenBy(s => s.Key, StringComparer.Ordinal).ToList();
        var onPace = 0;
        for (var rank = 0; rank < ranked.Count; rank++)
        {
            var (campaign, rate) = (ranked[rank].Key, ranked[rank].Value);
            var already = spentToday.GetValueOrDefault(campaign);
            double SpendAt(TimeSpan after) => already + (rate * after.TotalSeconds);
            if (rank == 2)
            {
                var exhaustAt = TimeSpan.FromMinutes(8);
                budgets.Add(new DemoBudget(campaign, DemoPacing.Exhausted, exhaustAt, (long)SpendAt(exhaustAt)));
                continue;
            }

            var (plan, target, pace) = (rank % 3) switch
            {
                0 => (DemoPacing.Over, TimeSpan.FromMinutes(3), 1.6),
                1 => (DemoPacing.OnPace, TimeSpan.FromMinutes(4 + (2 * (onPace++ % 4))), 1.0),
                _ => (DemoPacing.Under, TimeSpan.FromMinutes(10), 0.5),
            };
            var budget = SpendAt(target) / (pace * ShapedShare(start + target));
            // Never exhausted within the horizon: late in the day that may cost the plan its pace, not the demo its campaigns.
            budgets.Add(new DemoBudget(campaign, plan, target, (long)Math.Max(budget, SpendAt(Horizon) * 1.05)));
        }

        return budgets;
    }

    /// <summary>The share of a day's budget the traffic-shaped ideal allows by the end of <paramref name="at"/>'s minute, as the pacing view computes it.</summary>
    public static double ShapedShare(DateTimeOffset at)
    {
        var weights = DynamicPricing.HourlyTrafficWeights;
        var utc = at.UtcDateTime;
        return (weights.Take(utc.Hour).Sum() + (weights[utc.Hour] * (utc.Minute + 1) / 60.0)) / weights.Sum();
    }

    /// <summary>The pace <paramref name="budget"/> reads <paramref name="after"/> into a demo that started at <paramref name="start"/>: spend today over the shaped ideal.</summary>
    public static double PaceAt(DemoBudget budget, double spendPerSecond, long spentToday, DateTimeOffset start, TimeSpan after)
    {
        ArgumentNullException.ThrowIfNull(budget);
        return (spentToday + (spendPerSecond * after.TotalSeconds)) / (budget.DailyBudgetMicros * ShapedShare(start + after));
    }
}
