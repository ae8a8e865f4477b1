using StreamEngine.Core.AdEvents;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Sketches;

namespace StreamEngine.Jobs;

/// <summary>One campaign's minute: what <c>ads.campaign_minute</c> shows.</summary>
public readonly record struct CampaignMinute(long Bids, long Wins, long Impressions, long Clicks, long Conversions, long SpendMicros, long UniqueUsers);

/// <summary>The running counters of a campaign's minute; users as a HyperLogLog so partials merge.</summary>
public sealed class CampaignCounters
{
    public long Bids { get; set; }

    public long Wins { get; set; }

    public long Impressions { get; set; }

    public long Clicks { get; set; }

    public long Conversions { get; set; }

    public long SpendMicros { get; set; }

    public HyperLogLog Users { get; init; } = new();
}

/// <summary>Counts per event type, spend (price_micros / 1000 per impression, rounded down), approximate unique users.</summary>
public sealed class CampaignMinuteAggregator : IAggregator<AdEvent, CampaignCounters, CampaignMinute>
{
    public CampaignCounters Create() => new();

    public void Add(ref CampaignCounters accumulator, in AdEvent item)
    {
        switch (item.Type)
        {
            case AdEventType.Bid: accumulator.Bids++; break;
            case AdEventType.Win: accumulator.Wins++; break;
            case AdEventType.Impression:
                accumulator.Impressions++;
                accumulator.SpendMicros += item.SpendMicros;
                break;
            case AdEventType.Click: accumulator.Clicks++; break;
            case AdEventType.Conversion: accumulator.Conversions++; break;
        }

        if (item.UserHash != 0)
        {
            accumulator.Users.Add(item.UserHash);
        }
    }

    public void Merge(ref CampaignCounters into, CampaignCounters other)
    {
        into.Bids += other.Bids;
        into.Wins += other.Wins;
        into.Impressions += other.Impressions;
        into.Clicks += other.Clicks;
        into.Conversions += other.Conversions;
        into.SpendMicros += other.SpendMicros;
        into.Users.Merge(other.Users);
    }

    public CampaignMinute Result(CampaignCounters accumulator) =>
        new(accumulator.Bids, accumulator.Wins, accumulator.Impressions, accumulator.Clicks, accumulator.Conversions, accumulator.SpendMicros, accumulator.Users.Estimate());

    public void Write(BinaryWriter writer, CampaignCounters accumulator)
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (var value in new[] { accumulator.Bids, accumulator.Wins, accumulator.Impressions, accumulator.Clicks, accumulator.Conversions, accumulator.SpendMicros })
        {
            writer.Write(value);
        }

        accumulator.Users.Write(writer);
    }

    public CampaignCounters Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return new CampaignCounters
        {
            Bids = reader.ReadInt64(),
            Wins = reader.ReadInt64(),
            Impressions = reader.ReadInt64(),
            Clicks = reader.ReadInt64(),
            Conversions = reader.ReadInt64(),
            SpendMicros = reader.ReadInt64(),
            Users = HyperLogLog.Read(reader),
        };
    }
}
