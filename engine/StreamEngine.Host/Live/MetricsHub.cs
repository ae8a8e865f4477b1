using Microsoft.AspNetCore.SignalR;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;

namespace StreamEngine.Host.Live;

/// <summary>
/// The SignalR hub at <c>/hubs/metrics</c>: a client subscribes to campaigns (and slots) and receives <c>metrics</c>
/// messages with the same JSON as NATS (<c>adtrack.metrics.campaign.*</c>, <c>adtrack.metrics.slot.*</c>,
/// <c>adtrack.pricing.floor.*</c> for its slots), and <c>alert</c> messages for pacing alerts. Delivery goes through
/// <see cref="HubFanout"/>: each connection has its own conflated mailbox, so a slow client is skipped or dropped
/// without holding up others or the pipeline.
/// </summary>
public sealed class MetricsHub(HubFanout fanout) : Hub
{
    /// <summary>Receive a campaign's metrics.</summary>
    public void Subscribe(string campaign) => fanout.Subscribe(Context, new LiveKey(AdLiveTopics.Campaign, Check(campaign)));

    public void Unsubscribe(string campaign) => fanout.Unsubscribe(Context.ConnectionId, new LiveKey(AdLiveTopics.Campaign, Check(campaign)));

    /// <summary>Receive a slot's metrics and floor recommendations.</summary>
    public void SubscribeSlot(string slot) => fanout.Subscribe(Context, new LiveKey(AdLiveTopics.Slot, Check(slot)));

    public void UnsubscribeSlot(string slot) => fanout.Unsubscribe(Context.ConnectionId, new LiveKey(AdLiveTopics.Slot, Check(slot)));

    /// <summary>The busiest campaigns and slots of the newest minute, for pickers: <c>{ campaigns: [{id, impressions}], slots: [{id, bids}] }</c>.</summary>
    public Dictionary<string, object> Catalog()
    {
        var (campaigns, slots) = fanout.Catalog(top: 50);
        return new Dictionary<string, object>
        {
            ["campaigns"] = campaigns.Select(c => new Dictionary<string, object> { ["id"] = c.Id, ["impressions"] = c.Impressions }).ToList(),
            ["slots"] = slots.Select(s => new Dictionary<string, object> { ["id"] = s.Id, ["bids"] = s.Bids }).ToList(),
        };
    }

    public override Task OnConnectedAsync()
    {
        fanout.Connect(Context);
        return base.OnConnectedAsync();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        fanout.Disconnect(Context.ConnectionId);
        return base.OnDisconnectedAsync(exception);
    }

    private static string Check(string id) =>
        id is { Length: > 0 and <= 128 } ? id : throw new HubException("an id of 1 to 128 characters is required");
}
