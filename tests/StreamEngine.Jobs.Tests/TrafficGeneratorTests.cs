using StreamEngine.AdEvents;

namespace StreamEngine.Jobs.Tests;

/// <summary>The traffic generator: deterministic, decodable, realistic, with the defects asked for and a truth that matches.</summary>
public sealed class TrafficGeneratorTests
{
    private const long Start = 1_790_000_000_000;

    private static List<GeneratedMessage> Generate(int count, TrafficOptions? options = null) =>
        new TrafficGenerator(options ?? new TrafficOptions { StartTimeMs = Start }).Messages().Take(count).ToList();

    private static AdEventDecoder NewDecoder() => new(new SymbolTable(), clock: new FixedClock(Start + 3_600_000));

    [Fact]
    public void The_same_seed_gives_the_same_bytes_and_another_seed_does_not()
    {
        var options = new TrafficOptions { StartTimeMs = Start, Seed = 7, DuplicateFraction = 0.02, MalformedFraction = 0.01 };

        var first = Generate(5000, options);
        var second = Generate(5000, options);
        var other = Generate(5000, options with { Seed = 8 });

        Assert.Equal(first.Select(m => (m.Key, Convert.ToBase64String(m.Value))), second.Select(m => (m.Key, Convert.ToBase64String(m.Value))));
        Assert.NotEqual(first.Select(m => Convert.ToBase64String(m.Value)), other.Select(m => Convert.ToBase64String(m.Value)));
    }

    [Fact]
    public void Valid_messages_decode_keyed_by_campaign_with_v1_and_v2_mixed_and_bounded_disorder()
    {
        var decoder = NewDecoder();
        var newest = long.MinValue;
        var versions = new HashSet<byte>();
        foreach (var message in Generate(20_000))
        {
            Assert.True(decoder.TryDecode(message.Value, out var e, out var error), $"{error.Reason}: {error.Detail}");
            Assert.Equal(message.Key, decoder.Symbols.Name(e.Campaign));
            Assert.Equal(message.TimestampMs, e.TimestampMs);
            versions.Add(e.SchemaVersion);
            newest = Math.Max(newest, e.TimestampMs);
            Assert.InRange(newest - e.TimestampMs, 0, 2000);
        }

        Assert.Equal([(byte)1, (byte)2], versions.Order());
    }

    [Fact]
    public void The_funnel_has_realistic_rates_and_popularity_is_skewed()
    {
        var messages = Generate(200_000);
        long Count(AdEventType type) => messages.Count(m => m.Type == type);

        var winRate = (double)Count(AdEventType.Win) / Count(AdEventType.Bid);
        var ctr = (double)Count(AdEventType.Click) / Count(AdEventType.Impression);
        Assert.InRange(winRate, 0.03, 0.30); // 10-30% of the bids that clear the floor
        Assert.InRange(ctr, 0.005, 0.03);
        // Every win renders; the last few impressions are still pending when the run stops.
        Assert.InRange((double)Count(AdEventType.Impression) / Count(AdEventType.Win), 0.97, 1.0);
        var byCampaign = messages.GroupBy(m => m.Campaign).Select(g => g.Count()).OrderDescending().ToList();
        Assert.True(byCampaign[0] > 10 * byCampaign[^1], "the most popular campaign should carry far more traffic than the least");
    }

    [Fact]
    public void Duplicates_late_and_malformed_messages_come_in_the_fractions_asked()
    {
        var options = new TrafficOptions { StartTimeMs = Start, AuctionsPerSecond = 100, LateBy = TimeSpan.FromMinutes(1), DuplicateFraction = 0.05, LateFraction = 0.02, MalformedFraction = 0.03 };
        var messages = Generate(100_000, options);
        var decoder = NewDecoder();

        Assert.InRange(messages.Count(m => m.Kind == MessageKind.Duplicate), 4000, 6000);
        Assert.InRange(messages.Count(m => m.Kind == MessageKind.Malformed), 2400, 3600);
        Assert.InRange(messages.Count(m => m.Kind == MessageKind.Late), 1000, 2100);
        Assert.All(messages.Where(m => m.Kind == MessageKind.Malformed), m => Assert.False(decoder.TryDecode(m.Value, out _, out _)));
        var validIds = new HashSet<UInt128>();
        var newest = long.MinValue;
        foreach (var message in messages)
        {
            if (message.Kind == MessageKind.Malformed)
            {
                continue;
            }

            Assert.True(decoder.TryDecode(message.Value, out var e, out _));
            switch (message.Kind)
            {
                case MessageKind.Valid:
                    Assert.True(validIds.Add(e.Id));
                    newest = Math.Max(newest, e.TimestampMs);
                    break;
                case MessageKind.Duplicate:
                    Assert.Contains(e.Id, validIds);
                    break;
                case MessageKind.Late:
                    Assert.True(newest - e.TimestampMs >= options.LateBy.TotalMilliseconds);
                    break;
            }
        }
    }

    [Fact]
    public void The_truth_counts_each_valid_event_once_per_campaign_and_minute()
    {
        var messages = Generate(50_000, new TrafficOptions { StartTimeMs = Start, DuplicateFraction = 0.05, MalformedFraction = 0.02 });
        var truth = new CampaignMinuteTruth();
        foreach (var message in messages)
        {
            truth.Add(message);
        }

        var decoder = NewDecoder();
        var seen = new HashSet<UInt128>();
        var recount = new Dictionary<(string, long), (long Impressions, long Spend)>();
        foreach (var message in messages)
        {
            if (decoder.TryDecode(message.Value, out var e, out _) && seen.Add(e.Id) && e.Type == AdEventType.Impression)
            {
                var key = (decoder.Symbols.Name(e.Campaign), e.TimestampMs - e.TimestampMs % 60_000);
                var (impressions, spend) = recount.GetValueOrDefault(key);
                recount[key] = (impressions + 1, spend + e.SpendMicros);
            }
        }

        var rows = truth.Rows().Where(r => r.Impressions > 0).ToDictionary(r => (r.Campaign, r.WindowStartMs), r => (r.Impressions, r.SpendMicros));
        Assert.Equal(recount.OrderBy(r => r.Key), rows.OrderBy(r => r.Key));
        Assert.Equal(messages.Count(m => m.Kind == MessageKind.Valid), truth.Rows().Sum(r => r.Bids + r.Wins + r.Impressions + r.Clicks + r.Conversions));

        using var json = new MemoryStream();
        truth.WriteJsonEachRow(json);
        var first = System.Text.Encoding.UTF8.GetString(json.ToArray()).Split('\n')[0];
        Assert.Matches("^\\{\"window_start\":\"\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:00\",\"campaign\":\"cmp-\\d{4}\",\"bids\":\\d+", first);
    }
}
