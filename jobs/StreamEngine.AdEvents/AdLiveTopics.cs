using StreamEngine.Core.Dsl;

namespace StreamEngine.AdEvents;

/// <summary>The ad jobs' live values: their NATS subjects and who receives them on the hub.</summary>
public static class AdLiveTopics
{
    /// <summary>The hub audience of a campaign's values: everyone subscribed to the campaign.</summary>
    public const string Campaign = "campaign";

    /// <summary>The hub audience of a slot's values: everyone subscribed to the slot.</summary>
    public const string Slot = "slot";

    /// <summary>The subject of pacing alerts (one subject for every campaign: the campaign is in the payload).</summary>
    public const string PacingAlertSubject = "adtrack.alerts.pacing";

    /// <summary><c>adtrack.metrics.campaign.CAMPAIGN</c>, ranked by impressions.</summary>
    public static LiveTopic CampaignMetrics { get; } = new("adtrack.metrics.campaign", Campaign) { Catalogued = true };

    /// <summary><c>adtrack.metrics.slot.SLOT</c>, ranked by bids.</summary>
    public static LiveTopic SlotMetrics { get; } = new("adtrack.metrics.slot", Slot) { Catalogued = true };

    /// <summary><c>adtrack.pacing.campaign.CAMPAIGN</c>: the campaign's newest pace.</summary>
    public static LiveTopic Pacing { get; } = new("adtrack.pacing.campaign", Campaign);

    /// <summary><c>adtrack.pricing.floor.SLOT</c>: the slot's recommended floor.</summary>
    public static LiveTopic Floors { get; } = new("adtrack.pricing.floor", Slot);
}
