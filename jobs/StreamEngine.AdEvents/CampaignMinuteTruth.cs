using System.Globalization;
using System.Text.Json;

namespace StreamEngine.AdEvents;

/// <summary>One expected row of <c>ads.campaign_minute</c>.</summary>
public sealed record CampaignMinuteRow(
    long WindowStartMs, string Campaign, long Bids, long Wins, long Impressions, long Clicks, long Conversions, long SpendMicros, long UniqueUsers)
{
    /// <summary>Clicks per impression (0 without impressions).</summary>
    public double Ctr => Impressions == 0 ? 0 : (double)Clicks / Impressions;

    /// <summary>Spend per thousand impressions, in micros (0 without impressions).</summary>
    public double EcpmMicros => Impressions == 0 ? 0 : SpendMicros * 1000.0 / Impressions;
}

/// <summary>
/// What <c>ads.campaign_minute</c> must hold for a set of generated messages under the counting rules: valid events
/// once each (duplicates, late and malformed messages excluded), per campaign and UTC minute of event time, spend
/// as price_micros / 1000 rounded down per impression, unique users exact (the engine's figure is approximate).
/// </summary>
public sealed class CampaignMinuteTruth
{
    private readonly Dictionary<(string Campaign, long Minute), Counters> _rows = [];

    public void Add(GeneratedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Kind != MessageKind.Valid)
        {
            return;
        }

        var minute = message.TimestampMs - ((message.TimestampMs % 60_000) + 60_000) % 60_000;
        if (!_rows.TryGetValue((message.Campaign, minute), out var row))
        {
            _rows[(message.Campaign, minute)] = row = new Counters();
        }

        switch (message.Type)
        {
            case AdEventType.Bid: row.Bids++; break;
            case AdEventType.Win: row.Wins++; break;
            case AdEventType.Impression:
                row.Impressions++;
                row.Spend += message.PriceMicros / 1000;
                break;
            case AdEventType.Click: row.Clicks++; break;
            case AdEventType.Conversion: row.Conversions++; break;
        }

        if (message.User is not null)
        {
            row.Users.Add(message.User);
        }
    }

    public IReadOnlyList<CampaignMinuteRow> Rows() =>
        _rows.OrderBy(r => r.Key.Minute).ThenBy(r => r.Key.Campaign, StringComparer.Ordinal)
            .Select(r => new CampaignMinuteRow(r.Key.Minute, r.Key.Campaign, r.Value.Bids, r.Value.Wins, r.Value.Impressions, r.Value.Clicks,
                r.Value.Conversions, r.Value.Spend, r.Value.Users.Count))
            .ToList();

    /// <summary>Writes the rows as ClickHouse JSONEachRow, with the view's column names.</summary>
    public void WriteJsonEachRow(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        foreach (var row in Rows())
        {
            using var writer = new Utf8JsonWriter(output);
            writer.WriteStartObject();
            writer.WriteString("window_start", DateTime.UnixEpoch.AddMilliseconds(row.WindowStartMs).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            writer.WriteString("campaign", row.Campaign);
            writer.WriteNumber("bids", row.Bids);
            writer.WriteNumber("wins", row.Wins);
            writer.WriteNumber("impressions", row.Impressions);
            writer.WriteNumber("clicks", row.Clicks);
            writer.WriteNumber("conversions", row.Conversions);
            writer.WriteNumber("spend_micros", row.SpendMicros);
            writer.WriteNumber("ctr", row.Ctr);
            writer.WriteNumber("ecpm_micros", row.EcpmMicros);
            writer.WriteNumber("unique_users", row.UniqueUsers);
            writer.WriteEndObject();
            writer.Flush();
            output.WriteByte((byte)'\n');
        }
    }

    private sealed class Counters
    {
        public long Bids;
        public long Wins;
        public long Impressions;
        public long Clicks;
        public long Conversions;
        public long Spend;
        public readonly HashSet<string> Users = new(StringComparer.Ordinal);
    }
}
