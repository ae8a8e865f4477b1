using System.Globalization;
using System.Text.Json;
using StreamEngine.TestOracles;

namespace StreamEngine.TestUtilities;

/// <summary>
/// What the results must be, computed by the tests' reference (<see cref="ReferenceCounting"/>) from what the topic
/// really holds, read back to its end: it shares nothing with the engine's decoder or aggregation, nor with the
/// generator's bookkeeping, which stays as a second opinion (<see cref="AssertGeneratorAgrees"/>).
/// </summary>
public sealed class TopicTruth
{
    private static readonly string[] Columns = ["bids", "wins", "impressions", "clicks", "conversions", "spend_micros", "unique_users"];

    private TopicTruth(ReferenceCounting reference, long records)
    {
        Reference = reference;
        Records = records;
        CampaignMinutes = reference.CampaignMinutes();
    }

    public ReferenceCounting Reference { get; }

    /// <summary>How many records the topic held.</summary>
    public long Records { get; }

    public IReadOnlyList<ExpectedCampaignMinute> CampaignMinutes { get; }

    /// <summary>Events that count: each once in <c>ads.events</c>, and summed over the campaign minutes.</summary>
    public long CountedEvents => Reference.Counted.Count;

    /// <summary>
    /// Reads <paramref name="topic"/> to its end once it holds at least <paramref name="atLeast"/> records, with the
    /// engine's lateness settings (the contract's defaults unless a test sets others).
    /// </summary>
    public static TopicTruth Read(string bootstrap, string topic, long atLeast, TimeSpan patience, TimeSpan? watermarkDelay = null, TimeSpan? allowedLateness = null)
    {
        var reference = new ReferenceCounting(watermarkDelay ?? TimeSpan.FromSeconds(10), allowedLateness ?? TimeSpan.FromMinutes(5), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var records = TopicReader.ReadToEnd(bootstrap, topic, atLeast, patience, record => reference.Add(record.Partition.Value, record.Offset.Value, record.Message.Value));
        return new TopicTruth(reference, records);
    }

    /// <summary>The rows keyed as <c>ads.campaign_minute</c>'s JSONEachRow names them: "yyyy-MM-dd HH:mm:ss campaign".</summary>
    public Dictionary<string, ExpectedCampaignMinute> RowsByKey() => CampaignMinutes.ToDictionary(r => Key(r.WindowStartMs, r.Campaign));

    public static string Key(long windowStartMs, string campaign) =>
        $"{DateTime.UnixEpoch.AddMilliseconds(windowStartMs).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} {campaign}";

    /// <summary>
    /// The generator's own truth file (<c>generate --truth</c>, JSONEachRow) says the same, row for row, unique users
    /// exactly: two independent bookkeepings of one run agree, or one of them is wrong.
    /// </summary>
    public void AssertGeneratorAgrees(string truthJsonEachRow)
    {
        ArgumentNullException.ThrowIfNull(truthJsonEachRow);
        var generator = truthJsonEachRow.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Select(row => $"{row.GetProperty("window_start").GetString()} {row.GetProperty("campaign").GetString()}: " +
                string.Join(' ', Columns.Select(c => row.GetProperty(c).GetInt64())))
            .ToList();
        var reference = CampaignMinutes.Select(r => $"{Key(r.WindowStartMs, r.Campaign)}: {r.Bids} {r.Wins} {r.Impressions} {r.Clicks} {r.Conversions} {r.SpendMicros} {r.UniqueUsers}").ToList();
        if (!generator.SequenceEqual(reference))
        {
            var onlyGenerator = generator.Except(reference).Take(5);
            var onlyReference = reference.Except(generator).Take(5);
            throw new InvalidOperationException($"the generator's truth and the reference over the topic disagree: generator only [{string.Join("; ", onlyGenerator)}], " +
                $"reference only [{string.Join("; ", onlyReference)}] ({generator.Count} and {reference.Count} rows; the reference judged {Reference.Late.Count} late, " +
                $"{Reference.Duplicates} duplicates, {Reference.Refused.Values.Sum()} refused)");
        }
    }
}
