namespace StreamEngine.Jobs.Tests;

/// <summary>The campaign budgets file dynamic-pricing loads (<c>campaign,daily_budget</c>): read as written, refused with the line when wrong.</summary>
public sealed class CampaignBudgetsFileTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"budgets-{Guid.NewGuid():N}.csv");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void Budgets_are_read_in_dollars_or_micros_skipping_blank_lines_and_comments()
    {
        File.WriteAllText(_path, "campaign,daily_budget\ncmp-1, 20\n\n# paused\ncmp-2,0.5\n");
        Assert.Equal([("cmp-1", 20_000_000L), ("cmp-2", 500_000L)], DynamicPricing.ReadCampaigns(_path));

        File.WriteAllText(_path, "daily_budget_micros,campaign\n1500,cmp-3\n");
        Assert.Equal([("cmp-3", 1_500L)], DynamicPricing.ReadCampaigns(_path));
    }

    [Fact]
    public void A_campaign_with_two_budgets_is_refused_naming_both_lines()
    {
        // One file is one insert with one version: which of the two rows counted would be left to chance.
        File.WriteAllText(_path, "campaign,daily_budget\ncmp-1,20\ncmp-2,5\ncmp-1,30\n");
        var error = Assert.Throws<FormatException>(() => DynamicPricing.ReadCampaigns(_path));
        Assert.Contains(":4:", error.Message, StringComparison.Ordinal);
        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
    }
}
