using System.Runtime.InteropServices;

namespace StreamEngine.AdEvents;

/// <summary>The kinds of ad event on the wire (<c>type</c>).</summary>
public enum AdEventType : byte
{
    Bid = 1,
    Win,
    Impression,
    Click,
    Conversion,
}

/// <summary>The <c>device</c> field; <see cref="Unknown"/> when absent.</summary>
public enum DeviceType : byte
{
    Unknown = 0,
    Desktop,
    Mobile,
    Tablet,
    Ctv,
    Other,
}

/// <summary>
/// One ad event after decoding and upcasting to the v2 model: ids of repeated strings (campaign, ad, placement,
/// publisher) are interned into a <see cref="SymbolTable"/>; the event id and user id are kept as hashes; v1's
/// <c>slot</c> is the placement and v1 events are USD. A plain struct: batches are arrays of these.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly record struct AdEvent
{
    /// <summary>128-bit hash of the event id (XXH3 of its UTF-8 bytes): what dedup compares.</summary>
    public UInt128 Id { get; init; }

    public AdEventType Type { get; init; }

    /// <summary>Schema version it arrived in (1 or 2).</summary>
    public byte SchemaVersion { get; init; }

    public DeviceType Device { get; init; }

    /// <summary>Event time, Unix epoch milliseconds, UTC.</summary>
    public long TimestampMs { get; init; }

    public int Campaign { get; init; }

    public int Ad { get; init; }

    /// <summary>The ad slot (<c>placement</c> in v2, <c>slot</c> in v1).</summary>
    public int Placement { get; init; }

    public int Publisher { get; init; }

    /// <summary>64-bit hash of the hashed user id; 0 when absent.</summary>
    public ulong UserHash { get; init; }

    /// <summary>ISO 3166 alpha-2 packed into two bytes; 0 when absent. See <see cref="Codes"/>.</summary>
    public ushort Country { get; init; }

    /// <summary>ISO 4217 code packed into three bytes; see <see cref="Codes"/>.</summary>
    public int Currency { get; init; }

    /// <summary>Bid price, CPM micros (bid and win events); 0 otherwise.</summary>
    public long BidMicros { get; init; }

    /// <summary>Auction floor, CPM micros; -1 when absent.</summary>
    public long FloorMicros { get; init; }

    /// <summary>Clearing price, CPM micros (win and impression events); 0 otherwise.</summary>
    public long PriceMicros { get; init; }

    /// <summary>Where the source read it (the partition is the batch's), so a late or rejected event can be traced; -1 when unknown.</summary>
    public long SourceOffset { get; init; }

    /// <summary>An impression's spend: price_micros / 1000, rounded down (the contract's rule).</summary>
    public long SpendMicros => Type == AdEventType.Impression ? PriceMicros / 1000 : 0;
}

/// <summary>Packing of short ASCII codes (countries, currencies) into integers and back.</summary>
public static class Codes
{
    public static readonly int Usd = Pack3('U', 'S', 'D');

    public static ushort Pack2(char a, char b) => (ushort)((a << 8) | b);

    public static int Pack3(char a, char b, char c) => (a << 16) | (b << 8) | c;

    public static string Unpack(ushort code) => code == 0 ? "" : new string([(char)(code >> 8), (char)(code & 0xFF)]);

    public static string Unpack(int code) => code == 0 ? "" : new string([(char)((code >> 16) & 0xFF), (char)((code >> 8) & 0xFF), (char)(code & 0xFF)]);
}

/// <summary>The wire format's names of event types and devices (the decoder reads them; writers of events and rows use these).</summary>
public static class WireNames
{
    private static readonly string[] Types = ["", "bid", "win", "impression", "click", "conversion"];
    private static readonly string[] Devices = ["", "desktop", "mobile", "tablet", "ctv", "other"];
    private static readonly byte[][] TypesUtf8 = [.. Types.Select(System.Text.Encoding.UTF8.GetBytes)];
    private static readonly byte[][] DevicesUtf8 = [.. Devices.Select(System.Text.Encoding.UTF8.GetBytes)];

    /// <summary><c>bid</c>, <c>win</c>, <c>impression</c>, <c>click</c> or <c>conversion</c>.</summary>
    public static string Type(AdEventType type) => Types[(int)type];

    /// <summary><c>desktop</c>, <c>mobile</c>, <c>tablet</c>, <c>ctv</c>, <c>other</c>, or "" when absent.</summary>
    public static string Device(DeviceType device) => Devices[(int)device];

    public static ReadOnlySpan<byte> TypeUtf8(AdEventType type) => TypesUtf8[(int)type];

    public static ReadOnlySpan<byte> DeviceUtf8(DeviceType device) => DevicesUtf8[(int)device];
}
