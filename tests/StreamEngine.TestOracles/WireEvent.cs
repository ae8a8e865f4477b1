namespace StreamEngine.TestOracles;

/// <summary>
/// One event as the wire format contract describes it, read by <see cref="ReferenceWireReader"/>: plain strings and
/// numbers, the slot under one name whatever the version, the currency USD when a v1 event or a v2 event without
/// one does not say.
/// </summary>
public sealed record WireEvent(
    int Version, string Id, string Type, long TimestampMs, string Campaign, string Ad, string Slot, string Publisher,
    string? User, string? Country, string? Device, long? BidMicros, long? FloorMicros, long? PriceMicros, string Currency)
{
    /// <summary>An impression's spend: price_micros / 1000, rounded down; nothing for every other type.</summary>
    public long SpendMicros => Type == "impression" ? PriceMicros!.Value / 1000 : 0;

    /// <summary>The start of the event's UTC minute, in epoch milliseconds.</summary>
    public long MinuteStartMs => Math.DivRem(TimestampMs, 60_000) is var (q, r) && r < 0 ? (q - 1) * 60_000 : q * 60_000;
}

/// <summary>What <see cref="ReferenceWireReader.Read"/> made of a message: an event, or the reason it is refused.</summary>
public readonly record struct WireVerdict(WireEvent? Event, string? Reason)
{
    public bool Accepted => Event is not null;

    public static WireVerdict Refused(string reason) => new(null, reason);
}
