using StreamEngine.AdEvents;
using StreamEngine.TestOracles;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Jobs;

/// <summary>
/// <c>ad-metrics</c>'s breakdown views against brute force over the same generated events: per creative
/// (<c>ads.ad_minute</c>) and per country and device (<c>ads.campaign_geo_device_minute</c>), counts and spend exactly,
/// and each adds up to <c>ads.campaign_minute</c>.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class AdMetricsBreakdownTests(EmbeddedClickHouseFixture clickHouse)
{
    private const string Counts = "bids, wins, impressions, clicks, conversions, spend_micros";

    [Fact]
    public async Task Breakdowns_by_creative_and_by_country_and_device_equal_brute_force_and_add_up_to_the_campaign()
    {
        var (database, events) = await JobRun.RunAsync("ad-metrics", clickHouse.Store, "breakdowns",
            new TrafficOptions { Seed = 31, DuplicateFraction = 0.02, Campaigns = 30 }, 20_000, partitions: 4);

        AssertEqual(events.GroupBy(e => $"{e.MinuteStartMs / 1000} {e.Campaign} {e.Ad}"),
            JobRun.Rows(clickHouse.Store, $"SELECT toUnixTimestamp(window_start), campaign, ad, {Counts} FROM {database}.ad_minute", 3));
        AssertEqual(events.GroupBy(e => $"{e.MinuteStartMs / 1000} {e.Campaign} {e.Country} {e.Device}"),
            JobRun.Rows(clickHouse.Store, $"SELECT toUnixTimestamp(window_start), campaign, country, device, {Counts} FROM {database}.campaign_geo_device_minute", 4));

        var mismatched = clickHouse.Store.QueryText(
            $"SELECT count() FROM {database}.campaign_minute AS c FULL JOIN (SELECT window_start, campaign, sum(bids) AS b, sum(spend_micros) AS s " +
            $"FROM {database}.campaign_geo_device_minute GROUP BY window_start, campaign) AS g USING (window_start, campaign) WHERE c.bids != g.b OR c.spend_micros != g.s");
        Assert.Equal("0", mismatched.Trim());
    }

    private static void AssertEqual(IEnumerable<IGrouping<string, WireEvent>> expected, Dictionary<string, string[]> actual)
    {
        var truth = expected.ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(truth.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, events) in truth)
        {
            long[] counts =
            [
                events.Count(e => e.Type == "bid"), events.Count(e => e.Type == "win"), events.Count(e => e.Type == "impression"),
                events.Count(e => e.Type == "click"), events.Count(e => e.Type == "conversion"), events.Sum(e => e.SpendMicros),
            ];
            var row = actual[key];
            Assert.Equal(string.Join(' ', counts), string.Join(' ', row[^6..]));
        }
    }
}
