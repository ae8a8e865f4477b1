using System.Text.Json;
using StreamEngine.AdEvents;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Jobs.Tests;

/// <summary>The live subjects are a contract with NATS subscribers; the volume ranks the dashboard's pickers.</summary>
public sealed class AdLiveTopicsTests
{
    [Fact]
    public void Each_topic_publishes_on_its_contracted_subject_with_unsafe_characters_replaced()
    {
        Assert.Equal("adtrack.metrics.campaign.cmp_1_x_y_", AdLiveTopics.CampaignMetrics.Subject("cmp.1 x*y>"));
        Assert.Equal("adtrack.metrics.slot.slot-9", AdLiveTopics.SlotMetrics.Subject("slot-9"));
        Assert.Equal("adtrack.pacing.campaign._", AdLiveTopics.Pacing.Subject(""));
        Assert.Equal("adtrack.pricing.floor.s_1", AdLiveTopics.Floors.Subject("s\t1"));
        // Whitespace and control characters beyond ASCII too; other Unicode stays as it is.
        Assert.Equal("adtrack.metrics.campaign.\u00fcber_a_b_c_d_e", AdLiveTopics.CampaignMetrics.Subject("\u00fcber\u00a0a\u2028b\u0085c\u3000d\u009fe"));
        Assert.Equal("adtrack.alerts.pacing", AdLiveTopics.PacingAlertSubject);
        Assert.Equal([AdLiveTopics.Campaign, AdLiveTopics.Slot, AdLiveTopics.Campaign, AdLiveTopics.Slot],
            new[] { AdLiveTopics.CampaignMetrics, AdLiveTopics.SlotMetrics, AdLiveTopics.Pacing, AdLiveTopics.Floors }.Select(t => t.Audience));
    }

    [Fact]
    public void Campaign_values_carry_their_impressions_and_slot_values_their_bids_as_volume()
    {
        var symbols = new SymbolTable();
        var campaign = symbols.Intern("cmp-1");
        var slot = symbols.Intern("slot-1");
        var minute = new CampaignMinute(Bids: 9, Wins: 5, Impressions: 4, Clicks: 1, Conversions: 0, SpendMicros: 1000, UniqueUsers: 3);
        var campaignUpdate = new AdMetricsJob().Live([new WindowResult<int, CampaignMinute>(campaign, 60_000, 120_000, minute, 1, WindowEmission.Final)], symbols).Single();
        var slotMinute = new SlotMinute(7, 2, [(10, 7)], [(12, 2)], 0, 0, 0, 0, [(0, 7)]);
        var slotUpdate = new BidLandscapeJob().Live([new WindowResult<int, SlotMinute>(slot, 60_000, 120_000, slotMinute, 1, WindowEmission.Final)], symbols).Single();

        Assert.Equal(("adtrack.metrics.campaign.cmp-1", 4L), (campaignUpdate.Subject, campaignUpdate.Volume));
        Assert.Equal(4, JsonDocument.Parse(campaignUpdate.Json).RootElement.GetProperty("impressions").GetInt64());
        Assert.Equal(("adtrack.metrics.slot.slot-1", 7L), (slotUpdate.Subject, slotUpdate.Volume));
    }
}
