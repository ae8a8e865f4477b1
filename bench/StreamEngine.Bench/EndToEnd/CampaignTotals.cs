using System.Buffers.Binary;
using StreamEngine.AdEvents;

namespace StreamEngine.Bench.EndToEnd;

/// <summary>
/// The aggregation every contender computes: per campaign and 1-minute tumbling window, the count of each event type
/// and the spend (impressions' price / 1000), as <c>ads.campaign_minute</c> has them.
/// </summary>
internal sealed class CampaignTotals
{
    public long Bids { get; set; }

    public long Wins { get; set; }

    public long Impressions { get; set; }

    public long Clicks { get; set; }

    public long Conversions { get; set; }

    public long SpendMicros { get; set; }

    public long Events => Bids + Wins + Impressions + Clicks + Conversions;

    public CampaignTotals Add(in AdEvent e)
    {
        switch (e.Type)
        {
            case AdEventType.Bid: Bids++; break;
            case AdEventType.Win: Wins++; break;
            case AdEventType.Impression: Impressions++; break;
            case AdEventType.Click: Clicks++; break;
            case AdEventType.Conversion: Conversions++; break;
        }

        SpendMicros += e.SpendMicros;
        return this;
    }

    public static long Minute(long timestampMs) => timestampMs - Math.Abs(timestampMs % 60_000);

    public byte[] ToBytes()
    {
        var bytes = new byte[48];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(span, Bids);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], Wins);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], Impressions);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], Clicks);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], Conversions);
        BinaryPrimitives.WriteInt64LittleEndian(span[40..], SpendMicros);
        return bytes;
    }

    public static CampaignTotals FromBytes(ReadOnlySpan<byte> span) => new()
    {
        Bids = BinaryPrimitives.ReadInt64LittleEndian(span),
        Wins = BinaryPrimitives.ReadInt64LittleEndian(span[8..]),
        Impressions = BinaryPrimitives.ReadInt64LittleEndian(span[16..]),
        Clicks = BinaryPrimitives.ReadInt64LittleEndian(span[24..]),
        Conversions = BinaryPrimitives.ReadInt64LittleEndian(span[32..]),
        SpendMicros = BinaryPrimitives.ReadInt64LittleEndian(span[40..]),
    };
}
