using System.Runtime.InteropServices;
using StreamEngine.AdEvents;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Sketches;

namespace StreamEngine.Jobs;

/// <summary>
/// One campaign's minute: what <c>ads.campaign_minute</c> shows, and its breakdown by creative, country and device
/// (<c>ads.ad_minute</c>, <c>ads.campaign_geo_device_minute</c>).
/// </summary>
public sealed record CampaignMinute(long Bids, long Wins, long Impressions, long Clicks, long Conversions, long SpendMicros, long UniqueUsers)
{
    /// <summary>
    /// The parts of the breakdown that changed since this window's previous result (every part in its first), with
    /// their counts now: a sink writes these, and each part's newest row holds its counts. Hot campaigns have
    /// thousands of parts; carrying only the changed ones keeps each update's cost to what changed.
    /// </summary>
    public IReadOnlyList<KeyValuePair<BreakdownKey, EventCounts>> Breakdown { get; init; } = [];
}

/// <summary>What a campaign's minute breaks down by: creative, country (packed, 0 when absent) and device.</summary>
public readonly record struct BreakdownKey(int Ad, ushort Country, DeviceType Device);

/// <summary>Counts per event type and spend for one part of a campaign's minute.</summary>
public record struct EventCounts(long Bids, long Wins, long Impressions, long Clicks, long Conversions, long SpendMicros)
{
    public void Add(in AdEvent e)
    {
        switch (e.Type)
        {
            case AdEventType.Bid: Bids++; break;
            case AdEventType.Win: Wins++; break;
            case AdEventType.Impression:
                Impressions++;
                SpendMicros += e.SpendMicros;
                break;
            case AdEventType.Click: Clicks++; break;
            case AdEventType.Conversion: Conversions++; break;
        }
    }

    public void Add(in EventCounts other)
    {
        Bids += other.Bids;
        Wins += other.Wins;
        Impressions += other.Impressions;
        Clicks += other.Clicks;
        Conversions += other.Conversions;
        SpendMicros += other.SpendMicros;
    }

    public readonly void Write(BinaryWriter writer)
    {
        writer.Write(Bids);
        writer.Write(Wins);
        writer.Write(Impressions);
        writer.Write(Clicks);
        writer.Write(Conversions);
        writer.Write(SpendMicros);
    }

    public static EventCounts Read(BinaryReader reader) =>
        new(reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64());

    /// <summary>The counts as varints: a part of a minute with a few events takes 6-10 bytes, not 48.</summary>
    public readonly void WriteCompact(BinaryWriter writer)
    {
        writer.Write7BitEncodedInt64(Bids);
        writer.Write7BitEncodedInt64(Wins);
        writer.Write7BitEncodedInt64(Impressions);
        writer.Write7BitEncodedInt64(Clicks);
        writer.Write7BitEncodedInt64(Conversions);
        writer.Write7BitEncodedInt64(SpendMicros);
    }

    public static EventCounts ReadCompact(BinaryReader reader) =>
        new(reader.Read7BitEncodedInt64(), reader.Read7BitEncodedInt64(), reader.Read7BitEncodedInt64(), reader.Read7BitEncodedInt64(),
            reader.Read7BitEncodedInt64(), reader.Read7BitEncodedInt64());
}

/// <summary>The running counters of a campaign's minute; users as a HyperLogLog so partials merge.</summary>
public sealed class CampaignCounters
{
    private EventCounts _totals;

    /// <summary>The minute's counts, updated in place.</summary>
    public ref EventCounts Totals => ref _totals;

    public HyperLogLog Users { get; init; } = new();

    public Dictionary<BreakdownKey, EventCounts> Breakdown { get; init; } = [];

    /// <summary>The parts changed since the last result (kept in snapshots: a restored state still knows what is unwritten).</summary>
    public HashSet<BreakdownKey> Changed { get; init; } = [];
}

/// <summary>
/// Counts per event type, spend (price_micros / 1000 per impression, rounded down), approximate unique users, and the
/// same counts per creative, country and device.
/// </summary>
/// <param name="symbols">Names the creatives: snapshots hold names, since interned ids differ between processes.</param>
public sealed class CampaignMinuteAggregator(SymbolTable symbols) : IAggregator<AdEvent, CampaignCounters, CampaignMinute>
{
    public CampaignCounters Create() => new();

    public void Add(ref CampaignCounters accumulator, in AdEvent item)
    {
        accumulator.Totals.Add(item);
        var part = new BreakdownKey(item.Ad, item.Country, item.Device);
        CollectionsMarshal.GetValueRefOrAddDefault(accumulator.Breakdown, part, out _).Add(item);
        accumulator.Changed.Add(part);
        if (item.UserHash != 0)
        {
            accumulator.Users.Add(item.UserHash);
        }
    }

    public void Merge(ref CampaignCounters into, CampaignCounters other)
    {
        into.Totals.Add(other.Totals);
        into.Users.Merge(other.Users);
        foreach (var (key, counts) in other.Breakdown)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(into.Breakdown, key, out _).Add(counts);
            into.Changed.Add(key);
        }
    }

    /// <summary>
    /// The minute's totals and the breakdown parts changed since the previous result, which this call takes (the
    /// core asks once per emission of a window).
    /// </summary>
    public CampaignMinute Result(CampaignCounters accumulator)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        var t = accumulator.Totals;
        var changed = new KeyValuePair<BreakdownKey, EventCounts>[accumulator.Changed.Count];
        var i = 0;
        foreach (var part in accumulator.Changed)
        {
            changed[i++] = new KeyValuePair<BreakdownKey, EventCounts>(part, accumulator.Breakdown[part]);
        }

        accumulator.Changed.Clear();
        return new CampaignMinute(t.Bids, t.Wins, t.Impressions, t.Clicks, t.Conversions, t.SpendMicros, accumulator.Users.Estimate()) { Breakdown = changed };
    }

    /// <summary>
    /// Marks the compact snapshot layout (counts as varints, each part with its changed flag). The layouts before it
    /// start with the minute's bid count, never negative.
    /// </summary>
    private const long CompactLayout = -1;

    /// <summary>In the layout before the compact one, marks that each part carries its changed flag (an older one has none: all its parts count as changed).</summary>
    private const int WithChangedFlags = -1;

    public void Write(BinaryWriter writer, CampaignCounters accumulator)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(CompactLayout);
        accumulator.Totals.WriteCompact(writer);
        accumulator.Users.Write(writer);
        writer.Write7BitEncodedInt(accumulator.Breakdown.Count);
        foreach (var (key, counts) in accumulator.Breakdown)
        {
            writer.Write(symbols.Name(key.Ad));
            writer.Write7BitEncodedInt(key.Country);
            writer.Write((byte)key.Device);
            counts.WriteCompact(writer);
            writer.Write(accumulator.Changed.Contains(key));
        }
    }

    public CampaignCounters Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var first = reader.ReadInt64();
        if (first != CompactLayout)
        {
            return ReadFixed(reader, bids: first);
        }

        var totals = EventCounts.ReadCompact(reader);
        var counters = new CampaignCounters { Users = HyperLogLog.Read(reader) };
        counters.Totals = totals;
        for (int parts = reader.Read7BitEncodedInt(), i = 0; i < parts; i++)
        {
            var key = new BreakdownKey(symbols.Intern(reader.ReadString()), checked((ushort)reader.Read7BitEncodedInt()), (DeviceType)reader.ReadByte());
            counters.Breakdown[key] = EventCounts.ReadCompact(reader);
            if (reader.ReadBoolean())
            {
                counters.Changed.Add(key);
            }
        }

        return counters;
    }

    /// <summary>The layouts before <see cref="CompactLayout"/>: fixed-width counts, with or without the changed flags.</summary>
    private CampaignCounters ReadFixed(BinaryReader reader, long bids)
    {
        var totals = new EventCounts(bids, reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64());
        var counters = new CampaignCounters { Users = HyperLogLog.Read(reader) };
        counters.Totals = totals;
        var parts = reader.ReadInt32();
        var withFlags = parts == WithChangedFlags;
        parts = withFlags ? reader.ReadInt32() : parts;
        for (var i = 0; i < parts; i++)
        {
            var key = new BreakdownKey(symbols.Intern(reader.ReadString()), reader.ReadUInt16(), (DeviceType)reader.ReadByte());
            counters.Breakdown[key] = EventCounts.Read(reader);
            if (!withFlags || reader.ReadBoolean())
            {
                counters.Changed.Add(key); // rewriting a part that was written already is harmless: same counts
            }
        }

        return counters;
    }
}
