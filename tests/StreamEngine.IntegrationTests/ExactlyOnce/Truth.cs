using System.Globalization;
using System.Text.Json;
using StreamEngine.TestOracles;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>
/// Compares what the engine stored with what it must hold: the reference over the topic as it really is
/// (<see cref="TopicTruth"/>), after checking that the generator's truth file agrees with that reference.
/// </summary>
internal static class Truth
{
    private static readonly string[] EventCounts = ["bids", "wins", "impressions", "clicks", "conversions"];

    /// <summary>
    /// Reads the topic back once the generator is done and computes the expected results from it; the generator's
    /// truth file (<paramref name="truthFile"/>) must say the same.
    /// </summary>
    public static async Task<TopicTruth> ExpectedAsync(string bootstrap, string truthFile, TimeSpan patience, string topic = "ad-events",
        TimeSpan? watermarkDelay = null, TimeSpan? allowedLateness = null)
    {
        var expected = TopicTruth.Read(bootstrap, topic, 1, patience, watermarkDelay, allowedLateness);
        expected.AssertGeneratorAgrees(await File.ReadAllTextAsync(truthFile));
        return expected;
    }

    /// <summary>
    /// Row for row: counts and spend exactly, unique users within the HyperLogLog's error. <paramref name="explain"/>
    /// adds what a failure message should show about a row (its stored partials), given its window start and campaign.
    /// </summary>
    /// <param name="uniqueUsers">
    /// False when producers key by something other than the campaign: each partition's partial then counts its own
    /// users, and the view adds them up (a user seen in several partitions counts once per partition).
    /// </param>
    public static void AssertCampaignMinutesEqual(TopicTruth expected, string actualJsonEachRow, Func<string, string, string>? explain = null, bool uniqueUsers = true)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var actual = Rows(actualJsonEachRow);
        var truth = expected.RowsByKey();
        Assert.Equal(truth.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, row) in truth)
        {
            var got = actual[key];
            string Why() => explain?.Invoke(got.GetProperty("window_start").GetString()!, got.GetProperty("campaign").GetString()!) ?? "";
            long[] want = [row.Bids, row.Wins, row.Impressions, row.Clicks, row.Conversions, row.SpendMicros];
            foreach (var (column, value) in EventCounts.Append("spend_micros").Zip(want))
            {
                Assert.True(value == Long(got, column), $"{key} {column}: expected {value}, got {Long(got, column)} {Why()}");
            }

            if (!uniqueUsers)
            {
                continue;
            }

            var margin = UniqueUsersMargin(row.UniqueUsers);
            Assert.True(Math.Abs(Long(got, "unique_users") - row.UniqueUsers) <= margin,
                $"{key} unique_users: expected {row.UniqueUsers} +- {margin}, got {Long(got, "unique_users")} {Why()}");
        }
    }

    /// <summary>
    /// How far the engine's HyperLogLog (2^14 registers) may be from the exact count of <paramref name="users"/>, from
    /// the sketch's statistics, at six standard deviations so a run of hundreds of rows does not trip on chance. Up to
    /// 2.5 m distinct values it counts by linear counting, which reads users that share a register as one: about
    /// n²/2m pairs, Poisson distributed, so the error's deviation is about n/√(2m) (a flat 3%, as before, failed one
    /// row in a few runs: 117 for 121 users, four pairs). Above, the relative standard error is 1.04/√m.
    /// </summary>
    private static long UniqueUsersMargin(long users)
    {
        const double registers = 1 << 14;
        var deviation = users <= 2.5 * registers ? users / Math.Sqrt(2 * registers) : users * 1.04 / Math.Sqrt(registers);
        return 3 + (long)Math.Ceiling(6 * deviation);
    }

    /// <summary>
    /// SQL counting the campaign minutes whose parts in a breakdown <paramref name="view"/> do not add up to
    /// <c>ads.campaign_minute</c> (counts and spend): 0 when no part was lost or doubled.
    /// </summary>
    public static string BreakdownMismatches(string view, string database = "ads") =>
        $"SELECT count() FROM (SELECT window_start, campaign, sum(bids) AS b, sum(wins) AS w, sum(impressions) AS i, sum(clicks) AS c, sum(conversions) AS v, " +
        $"sum(spend_micros) AS s FROM {view.Replace("ads.", database + ".", StringComparison.Ordinal)} GROUP BY window_start, campaign) AS p " +
        $"FULL OUTER JOIN {database}.campaign_minute AS m USING (window_start, campaign) " +
        "WHERE p.b != m.bids OR p.w != m.wins OR p.i != m.impressions OR p.c != m.clicks OR p.v != m.conversions OR p.s != m.spend_micros";

    /// <summary>
    /// The embedded store (<paramref name="store"/>: <c>clickhouse.path=...</c>, read with <c>streamengine query</c>)
    /// against the expected results: <c>ads.campaign_minute</c> row for row, and every counted event once in <c>ads.events</c>.
    /// </summary>
    public static async Task AssertStoreMatchesAsync(string store, TopicTruth expected, TimeSpan patience)
    {
        using var query = await StreamEngineCli.RunAsync(patience, "query", "--set", store, "--format", "JSONEachRow",
            "SELECT * FROM ads.campaign_minute ORDER BY window_start, campaign");
        Assert.True(query.ExitCode == 0, query.StandardError);
        AssertCampaignMinutesEqual(expected, query.StandardOutput);
        using var events = await StreamEngineCli.RunAsync(patience, "query", "--set", store, "SELECT count(), uniqExact(event_id_hash) FROM ads.events");
        AssertRawEventsComplete(expected, events.StandardOutput);
    }

    /// <summary><c>count(), uniqExact(event_id_hash)</c> of <c>ads.events</c>: every counted event once.</summary>
    public static void AssertRawEventsComplete(TopicTruth expected, string countAndUniqueIds)
    {
        ArgumentNullException.ThrowIfNull(expected);
        Assert.Equal($"{expected.CountedEvents}\t{expected.CountedEvents}", countAndUniqueIds.Trim());
    }

    private static Dictionary<string, JsonElement> Rows(string jsonEachRow) =>
        jsonEachRow.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .ToDictionary(row => $"{row.GetProperty("window_start").GetString()} {row.GetProperty("campaign").GetString()}");

    private static long Long(JsonElement row, string column) =>
        row.GetProperty(column) is { ValueKind: JsonValueKind.String } text ? long.Parse(text.GetString()!, CultureInfo.InvariantCulture) : row.GetProperty(column).GetInt64();
}
