using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace StreamEngine.AdEvents;

/// <summary>What a generated message is.</summary>
public enum MessageKind : byte
{
    Valid,
    Duplicate,
    Late,
    Malformed,
}

/// <summary>One message for the ad-events topic: key (campaign id), value (the wire bytes) and what it is.</summary>
public sealed record GeneratedMessage(string Key, byte[] Value, MessageKind Kind, string Campaign, AdEventType Type, long TimestampMs, string? User, long PriceMicros);

/// <summary>
/// Realistic ad traffic per the wire contract, deterministic for a seed: campaigns with Zipf-like popularity;
/// auctions running bid -> win -> impression -> click -> conversion (win rates 10-30%, CTR 0.5-3%); log-normal bids
/// and floors; users, countries and devices; v1 and v2 mixed; event-time disorder bounded by
/// <see cref="TrafficOptions.MaxDisorder"/>; and on request duplicates, late and malformed messages.
/// </summary>
public sealed class TrafficGenerator
{
    private static readonly string[] Countries = ["US", "US", "US", "DE", "GB", "FR", "BR", "JP", "IN", "CA", "ES", "IT"];
    private static readonly string[] Devices = ["mobile", "mobile", "mobile", "desktop", "desktop", "tablet", "ctv", "other"];
    private readonly TrafficOptions _options;
    private readonly Random _random;
    private readonly Campaign[] _campaigns;
    private readonly double[] _campaignCumulative;
    private readonly Slot[] _slots;
    private readonly PriorityQueue<Pending, (long, long)> _pending = new();
    private readonly List<GeneratedMessage> _recent = [];
    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private long _auctionClockMs;
    private double _auctionFraction;
    private long _newestSentMs = long.MinValue;
    private long _sequence;
    private int _malformedKind;

    public TrafficGenerator(TrafficOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _random = new Random(options.Seed);
        _auctionClockMs = options.StartTimeMs;
        _campaigns = Enumerable.Range(1, options.Campaigns).Select(i => new Campaign(
            $"cmp-{i:D4}",
            Ads: _random.Next(2, 9),
            BaseBidMicros: LogNormal(Math.Log(1_500_000), 0.6),
            WinRate: 0.10 + _random.NextDouble() * 0.20,
            ClickRate: 0.005 + _random.NextDouble() * 0.025,
            ConversionRate: 0.02 + _random.NextDouble() * 0.08)).ToArray();
        // Zipf-like popularity: the campaign of rank r gets weight 1 / r^1.1.
        _campaignCumulative = new double[options.Campaigns];
        var total = 0.0;
        for (var i = 0; i < options.Campaigns; i++)
        {
            total += 1 / Math.Pow(i + 1, 1.1);
            _campaignCumulative[i] = total;
        }

        _slots = Enumerable.Range(1, options.Placements).Select(i => new Slot(
            $"slot-{i:D4}", $"pub-{1 + _random.Next(options.Publishers):D3}", FloorMicros: (long)LogNormal(Math.Log(800_000), 0.5))).ToArray();
    }

    /// <summary>Messages in the order to send them; endless, so take as many as wanted.</summary>
    public IEnumerable<GeneratedMessage> Messages()
    {
        while (true)
        {
            var roll = _random.NextDouble();
            if (roll < _options.MalformedFraction)
            {
                yield return Malformed();
                continue;
            }

            roll -= _options.MalformedFraction;
            if (roll < _options.DuplicateFraction && _recent.Count > 0)
            {
                var original = _recent[_random.Next(_recent.Count)];
                yield return original with { Kind = MessageKind.Duplicate };
                continue;
            }

            roll -= _options.DuplicateFraction;
            if (roll < _options.LateFraction && _newestSentMs - _options.StartTimeMs > (long)_options.LateBy.TotalMilliseconds + 60_000)
            {
                yield return Late();
                continue;
            }

            yield return NextValid();
        }
    }

    private GeneratedMessage NextValid()
    {
        // Run auctions until some event is due: events go out once the stream passes their time plus their disorder.
        while (!_pending.TryPeek(out _, out var due) || due.Item1 > _auctionClockMs)
        {
            RunAuction();
        }

        var next = _pending.Dequeue();
        _newestSentMs = Math.Max(_newestSentMs, next.TimestampMs);
        var message = Encode(next, MessageKind.Valid);
        // Duplicates repeat one of the last 2,000 valid messages.
        if (_recent.Count < 2000)
        {
            _recent.Add(message);
        }
        else
        {
            _recent[(int)(_sequence % 2000)] = message;
        }

        return message;
    }

    private void RunAuction()
    {
        _auctionFraction += 1000 / _options.AuctionsPerSecond;
        var step = (long)_auctionFraction;
        _auctionFraction -= step;
        _auctionClockMs += step;
        var t = _auctionClockMs;
        var campaign = _campaigns[PickCampaign()];
        var slot = _slots[_random.Next(_slots.Length)];
        var user = $"u{Hash(_random.Next(_options.Users)):x16}";
        var common = new Pending(0, AdEventType.Bid, t, campaign, $"{campaign.Id}-ad-{1 + _random.Next(campaign.Ads)}", slot, user,
            Countries[_random.Next(Countries.Length)], Devices[_random.Next(Devices.Length)], 0, 0, _random.NextDouble() < _options.Version1Fraction ? 1 : 2);
        var bid = (long)(campaign.BaseBidMicros * LogNormal(0, 0.3));
        Schedule(common with { BidMicros = bid, PriceMicros = slot.FloorMicros });
        if (bid < slot.FloorMicros || _random.NextDouble() >= campaign.WinRate)
        {
            return;
        }

        var price = Math.Max(slot.FloorMicros, (long)(bid * (0.55 + _random.NextDouble() * 0.4)));
        Schedule(common with { Type = AdEventType.Win, TimestampMs = t + 20 + _random.Next(80), BidMicros = bid, PriceMicros = price });
        var shown = t + 100 + _random.Next(900);
        Schedule(common with { Type = AdEventType.Impression, TimestampMs = shown, PriceMicros = price });
        if (_random.NextDouble() >= campaign.ClickRate)
        {
            return;
        }

        var clicked = shown + 1000 + _random.Next(29_000);
        Schedule(common with { Type = AdEventType.Click, TimestampMs = clicked });
        if (_random.NextDouble() < campaign.ConversionRate)
        {
            Schedule(common with { Type = AdEventType.Conversion, TimestampMs = clicked + 60_000 + _random.Next(540_000) });
        }
    }

    /// <summary>Queues an event to go out at its time plus a random disorder within the bound.</summary>
    private void Schedule(Pending pending)
    {
        var due = pending.TimestampMs + (long)(_random.NextDouble() * _options.MaxDisorder.TotalMilliseconds);
        _pending.Enqueue(pending with { Sequence = ++_sequence }, (due, _sequence));
    }

    private GeneratedMessage Late()
    {
        var campaign = _campaigns[PickCampaign()];
        var slot = _slots[_random.Next(_slots.Length)];
        var late = new Pending(++_sequence, AdEventType.Impression, _newestSentMs - (long)_options.LateBy.TotalMilliseconds, campaign,
            $"{campaign.Id}-ad-1", slot, null, "US", "desktop", 0, slot.FloorMicros, 2);
        return Encode(late, MessageKind.Late);
    }

    private GeneratedMessage Malformed()
    {
        var campaign = _campaigns[PickCampaign()].Id;
        var id = $"bad-{++_sequence}";
        var ts = Math.Max(_newestSentMs, _options.StartTimeMs).ToString(CultureInfo.InvariantCulture);
        var body = (_malformedKind++ % 8) switch
        {
            0 => $"{{\"v\":2,\"id\":\"{id}\",\"type\":\"impression\",\"ts\":{ts},\"camp",                                   // truncated
            1 => "\u0000\u00ff\u0010binary garbage\u0001",                                                              // not text
            2 => $"{{\"v\":9,\"id\":\"{id}\",\"type\":\"click\",\"ts\":{ts},\"campaign\":\"{campaign}\"}}",               // unknown version
            3 => $"{{\"v\":2,\"id\":\"{id}\",\"type\":\"hover\",\"ts\":{ts},\"campaign\":\"{campaign}\",\"ad\":\"a\",\"placement\":\"s\",\"publisher\":\"p\"}}", // unknown type
            4 => $"{{\"v\":2,\"id\":\"{id}\",\"type\":\"click\",\"ts\":\"{ts}\",\"campaign\":\"{campaign}\",\"ad\":\"a\",\"placement\":\"s\",\"publisher\":\"p\"}}", // ts as a string
            5 => $"{{\"v\":2,\"id\":\"{id}\",\"type\":\"impression\",\"ts\":{ts},\"campaign\":\"{campaign}\",\"ad\":\"a\",\"placement\":\"s\",\"publisher\":\"p\",\"price_micros\":-100}}", // negative price
            6 => $"{{\"v\":2,\"id\":\"{new string('x', 100)}\",\"type\":\"click\",\"ts\":{ts},\"campaign\":\"{campaign}\",\"ad\":\"a\",\"placement\":\"s\",\"publisher\":\"p\"}}", // id too long
            _ => "",                                                                                                      // empty
        };
        return new GeneratedMessage(_options.KeyByEventId ? id : campaign, Encoding.Latin1.GetBytes(body), MessageKind.Malformed, campaign, 0, 0, null, 0);
    }

    private GeneratedMessage Encode(Pending e, MessageKind kind)
    {
        string key;
        _buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v", e.Version);
            var id = $"ev-{_options.Seed}-{e.Sequence}";
            writer.WriteString("id", id);
            key = _options.KeyByEventId ? id : e.Campaign.Id;
            writer.WriteString("type", WireNames.TypeUtf8(e.Type));
            writer.WriteNumber("ts", e.TimestampMs);
            writer.WriteString("campaign", e.Campaign.Id);
            writer.WriteString("ad", e.Ad);
            writer.WriteString(e.Version == 1 ? "slot" : "placement", e.Slot.Id);
            writer.WriteString("publisher", e.Slot.Publisher);
            if (e.User is not null)
            {
                writer.WriteString("user", e.User);
            }

            writer.WriteString("country", e.Country);
            writer.WriteString("device", e.Device);
            if (e.Type is AdEventType.Bid or AdEventType.Win)
            {
                writer.WriteNumber("bid_micros", e.BidMicros);
            }

            if (e.Type == AdEventType.Bid)
            {
                writer.WriteNumber("floor_micros", e.PriceMicros);
            }

            if (e.Type is AdEventType.Win or AdEventType.Impression)
            {
                writer.WriteNumber("price_micros", e.PriceMicros);
            }

            if (e.Version == 2)
            {
                writer.WriteString("currency", "USD");
            }

            writer.WriteEndObject();
        }

        var price = e.Type is AdEventType.Win or AdEventType.Impression ? e.PriceMicros : 0;
        return new GeneratedMessage(key, _buffer.WrittenSpan.ToArray(), kind, e.Campaign.Id, e.Type, e.TimestampMs, e.User, price);
    }

    private int PickCampaign()
    {
        var index = Array.BinarySearch(_campaignCumulative, _random.NextDouble() * _campaignCumulative[^1]);
        return index < 0 ? Math.Min(~index, _campaignCumulative.Length - 1) : index;
    }

    private double LogNormal(double mu, double sigma)
    {
        var gaussian = Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble());
        return Math.Exp(mu + sigma * gaussian);
    }

    private static ulong Hash(int value) => Core.Sketches.Hashing.Mix((ulong)value + 0x9E3779B97F4A7C15UL);

    private sealed record Campaign(string Id, int Ads, double BaseBidMicros, double WinRate, double ClickRate, double ConversionRate);

    private sealed record Slot(string Id, string Publisher, long FloorMicros);

    private sealed record Pending(long Sequence, AdEventType Type, long TimestampMs, Campaign Campaign, string Ad, Slot Slot, string? User,
        string Country, string Device, long BidMicros, long PriceMicros, int Version);
}
