using System.Globalization;
using System.Text.Json;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>
/// Exactly once, end to end, with real processes: the embedded Kafka cluster in its own process, generated traffic
/// with duplicates, disorder and malformed messages (and its truth file), and the engine as a child process killed
/// with SIGKILL at random moments and restarted; after a final clean drain, <c>ads.campaign_minute</c> equals the
/// truth row for row.
/// </summary>
public sealed class CrashTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Results_after_ten_SIGKILLs_and_a_clean_drain_equal_one_clean_run()
    {
        using var folder = new TemporaryDirectory("streamengine-crash");
        var bootstrapFile = folder.File("bootstrap.txt");
        using var kafka = StreamEngineCli.Start("kafka", "serve", "--brokers", "3", "--topic", "ad-events:12", "--topic", "ad-events.dlq:3", "--bootstrap-file", bootstrapFile);
        await kafka.WaitForOutputAsync(line => line.StartsWith("embedded Kafka:", StringComparison.Ordinal), Patience);
        var bootstrap = (await File.ReadAllTextAsync(bootstrapFile)).Trim();
        var truthFile = folder.File("truth.json");
        // Traffic keeps arriving while the engine is killed and restarted (about 30 s at this rate), so the kills
        // land mid-stream: open windows, half-written checkpoints, unread partitions.
        using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", "60000", "--rate", "2000", "--seed", "7",
            "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);

        var store = $"clickhouse.path={folder.File("clickhouse")}";
        var random = new Random(42);
        for (var crash = 0; crash < 10; crash++)
        {
            // A fresh group each time: positions come from the checkpoints, and the killed member's partitions
            // need not time out first.
            using var engine = StreamEngineCli.Start("run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", store,
                "--set", "clickhouse.http.port=0", "--set", $"kafka.group=crash-{crash}");
            // Killed at a random moment after it started working: before, during or after a checkpoint (every 2 s).
            await engine.WaitForOutputAsync(line => line.StartsWith("streamengine run:", StringComparison.Ordinal), Patience);
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(200, 4500)));
            Assert.False(engine.HasExited, $"run {crash} exited by itself ({(engine.HasExited ? engine.ExitCode : 0)}): {engine.StandardError}");
            engine.Signal(9);
            await engine.WaitForExitAsync(Patience);
        }

        await generate.WaitForExitAsync(Patience);
        Assert.True(generate.ExitCode == 0, generate.StandardError);
        using (var drain = await StreamEngineCli.RunAsync(Patience, "run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", store,
                   "--set", "clickhouse.http.port=0", "--set", "kafka.group=drain", "--until-idle", "3"))
        {
            Assert.True(drain.ExitCode == 0, $"exit {drain.ExitCode}: {drain.StandardError}");
            // The killed runs got far enough to checkpoint: the drain continued from their offsets, not from the beginning.
            Assert.Matches(@"assigned partitions .*\d+@\d+", drain.StandardError);
        }

        await Truth.AssertStoreMatchesAsync(store, truthFile, Patience);
        // The breakdown parts (written only when they change) survived the kills too: each view adds up to the campaign.
        foreach (var view in new[] { "ads.ad_minute", "ads.campaign_geo_device_minute" })
        {
            using var parts = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, Truth.BreakdownMismatches(view));
            Assert.True(parts.ExitCode == 0, parts.StandardError);
            Assert.Equal("0", parts.StandardOutput.Trim());
        }
    }
}

/// <summary>Compares <c>ads.campaign_minute</c> (as JSONEachRow) with the generator's truth file.</summary>
internal static class Truth
{
    private static readonly string[] EventCounts = ["bids", "wins", "impressions", "clicks", "conversions"];

    /// <summary>
    /// Row for row: counts and spend exactly, unique users within the HyperLogLog's error. <paramref name="explain"/>
    /// adds what a failure message should show about a row (its stored partials), given its window start and campaign.
    /// </summary>
    /// <param name="uniqueUsers">
    /// False when producers key by something other than the campaign: each partition's partial then counts its own
    /// users, and the view adds them up (a user seen in several partitions counts once per partition).
    /// </param>
    public static void AssertCampaignMinutesEqual(string truthJsonEachRow, string actualJsonEachRow, Func<string, string, string>? explain = null, bool uniqueUsers = true)
    {
        var actual = Rows(actualJsonEachRow);
        var truth = Rows(truthJsonEachRow);
        Assert.Equal(truth.Keys.Order(), actual.Keys.Order());
        foreach (var (key, expected) in truth)
        {
            var got = actual[key];
            string Why() => explain?.Invoke(got.GetProperty("window_start").GetString()!, got.GetProperty("campaign").GetString()!) ?? "";
            foreach (var column in EventCounts.Append("spend_micros"))
            {
                Assert.True(Long(expected, column) == Long(got, column), $"{key} {column}: expected {Long(expected, column)}, got {Long(got, column)} {Why()}");
            }

            if (!uniqueUsers)
            {
                continue;
            }

            var users = Long(expected, "unique_users");
            var margin = UniqueUsersMargin(users);
            Assert.True(Math.Abs(Long(got, "unique_users") - users) <= margin, $"{key} unique_users: expected {users} +- {margin}, got {Long(got, "unique_users")} {Why()}");
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
    /// against the generator's truth file: <c>ads.campaign_minute</c> row for row, and every counted event once in <c>ads.events</c>.
    /// </summary>
    public static async Task AssertStoreMatchesAsync(string store, string truthFile, TimeSpan patience)
    {
        var truth = await File.ReadAllTextAsync(truthFile);
        using var query = await StreamEngineCli.RunAsync(patience, "query", "--set", store, "--format", "JSONEachRow",
            "SELECT * FROM ads.campaign_minute ORDER BY window_start, campaign");
        Assert.True(query.ExitCode == 0, query.StandardError);
        AssertCampaignMinutesEqual(truth, query.StandardOutput);
        using var events = await StreamEngineCli.RunAsync(patience, "query", "--set", store, "SELECT count(), uniqExact(event_id_hash) FROM ads.events");
        AssertRawEventsComplete(truth, events.StandardOutput);
    }

    /// <summary><c>count(), uniqExact(event_id_hash)</c> of <c>ads.events</c>: every counted event once.</summary>
    public static void AssertRawEventsComplete(string truthJsonEachRow, string countAndUniqueIds)
    {
        var expected = Rows(truthJsonEachRow).Values.Sum(row => EventCounts.Sum(c => Long(row, c)));
        Assert.Equal($"{expected}\t{expected}", countAndUniqueIds.Trim());
    }

    private static Dictionary<string, JsonElement> Rows(string jsonEachRow) =>
        jsonEachRow.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .ToDictionary(row => $"{row.GetProperty("window_start").GetString()} {row.GetProperty("campaign").GetString()}");

    private static long Long(JsonElement row, string column) =>
        row.GetProperty(column) is { ValueKind: JsonValueKind.String } text ? long.Parse(text.GetString()!, CultureInfo.InvariantCulture) : row.GetProperty(column).GetInt64();
}
