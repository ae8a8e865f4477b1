using StreamEngine.AdEvents;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;

namespace StreamEngine.UnitTests;

/// <summary>
/// The demo's budgets, sized from its own traffic: over a ten-minute demo started at any hour of the UTC day, the
/// pacing statuses (computed as ads.campaign_pacing does) show campaigns over (except late in the day), on pace and
/// under, and the one planned to run out does so late, never any other within the horizon.
/// </summary>
public sealed class DemoBudgetsTests
{
    private static readonly TrafficOptions DemoTraffic = new() { Seed = 7, AuctionsPerSecond = 2_000 / 1.4, StartTimeMs = 0 };

    private static readonly Lazy<IReadOnlyDictionary<string, double>> Rates = new(() => DemoBudgets.SpendPerSecond(DemoTraffic, TimeSpan.FromMinutes(2)));

    /// <summary>The pacing view's status rule (DynamicPricing.PacingView), written out again for the test.</summary>
    private static string Status(double spend, long budget, DateTimeOffset at)
    {
        var ideal = budget * DemoBudgets.ShapedShare(at);
        var pace = ideal == 0 ? 0 : spend / ideal;
        return spend >= budget ? "exhausted" : ideal < budget * 0.01 ? "warming_up" : pace > DynamicPricing.OverPace ? "over" : pace < DynamicPricing.UnderPace ? "under" : "on_pace";
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(4, true)]
    [InlineData(9, true)]
    [InlineData(13, true)]
    [InlineData(18, true)]
    // At 22:00 most of the day's ideal has passed: over-delivering within ten minutes would mean nearly out of budget.
    [InlineData(22, false)]
    public void A_ten_minute_demo_shows_every_pacing_status_and_one_exhaustion_late(int hour, bool overWithinTenMinutes)
    {
        var start = new DateTimeOffset(2026, 12, 2, hour, 7, 0, TimeSpan.Zero);
        var rates = Rates.Value;
        var budgets = DemoBudgets.Plan(rates, new Dictionary<string, long>(), start);
        Assert.Equal(rates.Count(r => r.Value > 0), budgets.Count);

        IReadOnlyDictionary<string, string> StatusesAt(int minute) => budgets.ToDictionary(
            b => b.Campaign, b => Status(rates[b.Campaign] * minute * 60, b.DailyBudgetMicros, start + TimeSpan.FromMinutes(minute)));

        var seen = Enumerable.Range(2, 9).SelectMany(minute => StatusesAt(minute).Values).ToHashSet();
        Assert.Superset(new HashSet<string> { "on_pace", "under", "exhausted" }, seen);
        Assert.Equal(overWithinTenMinutes, seen.Contains("over"));
        var exhausted = Assert.Single(budgets, b => b.Plan == DemoPacing.Exhausted);
        Assert.NotEqual("exhausted", StatusesAt(7)[exhausted.Campaign]);
        Assert.Equal("exhausted", StatusesAt(9)[exhausted.Campaign]);
        Assert.DoesNotContain(StatusesAt(11), s => s.Key != exhausted.Campaign && s.Value == "exhausted");
        // A mix, not one campaign of each: at minute 10 a quarter or more of the campaigns still under-deliver.
        Assert.True(StatusesAt(10).Values.Count(s => s == "under") >= budgets.Count / 4, string.Join(", ", StatusesAt(10).Values.CountBy(s => s)));
    }

    [Fact]
    public void Spend_already_stored_today_is_part_of_the_plan()
    {
        var start = new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);
        var rates = Rates.Value;
        var fresh = DemoBudgets.Plan(rates, new Dictionary<string, long>(), start).ToDictionary(b => b.Campaign);
        var busiest = fresh.Values.Single(b => b.Plan == DemoPacing.Exhausted).Campaign;
        var spent = new Dictionary<string, long> { [busiest] = 5_000_000 };
        var again = DemoBudgets.Plan(rates, spent, start).ToDictionary(b => b.Campaign);
        Assert.Equal(fresh[busiest].DailyBudgetMicros + 5_000_000, again[busiest].DailyBudgetMicros, tolerance: 1);
    }

    [Fact]
    public void The_sampled_spend_rates_are_the_generators_impressions()
    {
        // An independent count over the same traffic: impressions' price / 1000, per campaign, over two minutes.
        var generator = new TrafficGenerator(DemoTraffic);
        var spend = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var m in generator.Messages().TakeWhile(m => m.TimestampMs <= 120_000))
        {
            if (m.Kind == MessageKind.Valid && m.Type == AdEventType.Impression)
            {
                spend[m.Campaign] = spend.GetValueOrDefault(m.Campaign) + (m.PriceMicros / 1000);
            }
        }

        Assert.Equal(spend.Keys.Order(StringComparer.Ordinal), Rates.Value.Keys.Order(StringComparer.Ordinal));
        Assert.All(spend, s => Assert.Equal(s.Value / 120.0, Rates.Value[s.Key], 6));
    }
}
