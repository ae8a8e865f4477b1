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
    // Each part's counts with its changed flag in one dictionary: a set of the changed parts beside it was a fifth of
    // a window's memory, and a catch-up keeps a window per campaign, minute and partition (128,000 at 128 partitions).
    private readonly Dictionary<BreakdownKey, Part> _parts = [];
    private EventCounts _totals;

    /// <summary>The minute's counts, updated in place.</summary>
    public ref EventCounts Totals => ref _totals;

    public HyperLogLog Users { get; init; } = new();

    /// <summary>Each part of the breakdown with its counts.</summary>
    public IEnumerable<KeyValuePair<BreakdownKey, EventCounts>> Breakdown => _parts.Select(p => new KeyValuePair<BreakdownKey, EventCounts>(p.Key, p.Value.Counts));

    /// <summary>Parts of the breakdown.</summary>
    public int PartCount => _parts.Count;

    /// <summary>Parts changed since the last result (kept in snapshots: a restored state still knows what is unwritten).</summary>
    public int ChangedCount { get; private set; }

    /// <summary>The counts of <paramref name="key"/>'s part, to add to: the part counts as changed.</summary>
    public ref EventCounts Change(BreakdownKey key)
    {
        ref var part = ref CollectionsMarshal.GetValueRefOrAddDefault(_parts, key, out _);
        if (!part.Changed)
        {
            part.Changed = true;
            ChangedCount++;
        }

        return ref part.Counts;
    }

    /// <summary>Sets a part's counts and whether it changed since the last result (restoring a snapshot).</summary>
    public void Set(BreakdownKey key, EventCounts counts, bool changed)
    {
        ref var part = ref CollectionsMarshal.GetValueRefOrAddDefault(_parts, key, out var existed);
        ChangedCount += (changed ? 1 : 0) - (existed && part.Changed ? 1 : 0);
        part = new Part { Counts = counts, Changed = changed };
    }

    /// <summary>Whether <paramref name="key"/>'s part changed since the last result.</summary>
    public bool HasChanged(BreakdownKey key) => _parts.TryGetValue(key, out var part) && part.Changed;

    /// <summary>The parts changed since the last result, with their counts now; afterwards none counts as changed.</summary>
    public KeyValuePair<BreakdownKey, EventCounts>[] TakeChanged()
    {
        if (ChangedCount == 0)
        {
            return [];
        }

        var changed = new KeyValuePair<BreakdownKey, EventCounts>[ChangedCount];
        var i = 0;
        foreach (var (key, part) in _parts)
        {
            if (part.Changed)
            {
                changed[i++] = new KeyValuePair<BreakdownKey, EventCounts>(key, part.Counts);
            }
        }

        foreach (var (key, _) in changed)
        {
            CollectionsMarshal.GetValueRefOrNullRef(_parts, key).Changed = false;
        }

        ChangedCount = 0;
        return changed;
    }

    /// <summary>Every part with its counts and changed flag, in the order the parts were added (what a snapshot writes).</summary>
    internal IReadOnlyDictionary<BreakdownKey, Part> Parts => _parts;

    internal struct Part
    {
        public EventCounts Counts;
        public bool Changed;
    }
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
        accumulator.Change(new BreakdownKey(item.Ad, item.Country, item.Device)).Add(item);
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
            into.Change(key).Add(counts);
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
        var changed = accumulator.TakeChanged();
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
        writer.Write7BitEncodedInt(accumulator.PartCount);
        foreach (var (key, part) in accumulator.Parts)
        {
            writer.Write(symbols.Name(key.Ad));
            writer.Write7BitEncodedInt(key.Country);
            writer.Write((byte)key.Device);
            part.Counts.WriteCompact(writer);
            writer.Write(part.Changed);
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
            var counts = EventCounts.ReadCompact(reader);
            counters.Set(key, counts, changed: reader.ReadBoolean());
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
            // Without flags every part counts as changed: rewriting a part that was written already is harmless (same counts).
            var counts = EventCounts.Read(reader);
            counters.Set(key, counts, changed: !withFlags || reader.ReadBoolean());
        }

        return counters;
    }
}
