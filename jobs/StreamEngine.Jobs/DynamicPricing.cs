using System.Globalization;
using StreamEngine.Core.Dsl;

namespace StreamEngine.Jobs;

/// <summary>
/// <c>dynamic-pricing</c>: floor-price recommendations per slot and budget pacing per campaign, derived from what
/// <c>bid-landscape</c> and <c>ad-metrics</c> store. Both inputs are already merged across partitions and processes
/// in ClickHouse (a slot's bids arrive on every partition), so this job reads them there instead of from Kafka:
/// <list type="bullet">
/// <item>floors: for each closed slot minute, the reserve that maximizes revenue under the minute's merged bid
/// distribution, smoothed across minutes with guardrails (<see cref="AdEvents.Pricing.FloorRecommender"/>), into
/// <c>ads.floor_recommendation</c>; recomputed over a look-back as late bids arrive, each row keyed by slot and
/// minute, so reruns and several engines write the same rows;</item>
/// <item>pacing: <c>ads.campaign_pacing</c> is a view over <c>ads.campaign_minute</c> and <c>ads.campaign_budgets</c>
/// (loaded from the campaigns file): spend today against the linear and the traffic-shaped ideal, a pacing
/// multiplier and throttle probability, and a status; the job records changes into over- or under-delivery in
/// <c>ads.pacing_alerts</c>.</item>
/// </list>
/// </summary>
public static class DynamicPricing
{
    public const string Name = "dynamic-pricing";

    public const string Summary =
        "per slot: floor-price recommendation from the bid distribution -> ads.floor_recommendation; per campaign: budget pacing -> " +
        "ads.campaign_pacing, alerts -> ads.pacing_alerts (reads what bid-landscape and ad-metrics store)";

    public const string RecommendationTable = "floor_recommendation_results";

    public const string BudgetTable = "campaign_budgets";

    public const string AlertTable = "pacing_alerts";

    /// <summary>
    /// Share of a day's traffic per UTC hour (a typical diurnal curve: quiet at night, peaking in the evening), for
    /// the traffic-shaped pace. Relative weights; the view divides by their sum.
    /// </summary>
    public static IReadOnlyList<int> HourlyTrafficWeights { get; } = [2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 6, 6, 5, 5, 5, 6, 7, 8, 8, 7, 5, 3];

    /// <summary>Pace ratio (spend today / traffic-shaped ideal) above which a campaign over-delivers.</summary>
    public const double OverPace = 1.2;

    /// <summary>Pace ratio below which a campaign under-delivers.</summary>
    public const double UnderPace = 0.8;

    public static IReadOnlyList<SchemaStep> Schema { get; } =
    [
        new("floor recommendations",
        [
            "CREATE TABLE IF NOT EXISTS {database}.floor_recommendation_results (window_start DateTime('UTC'), slot String, samples UInt64, " +
            "optimal_floor_micros Float64, recommended_floor_micros Float64, expected_revenue_per_bid_micros Float64, confidence Float64, " +
            "status LowCardinality(String), computed_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree(computed_at) ORDER BY (slot, window_start)",
            "CREATE OR REPLACE VIEW {database}.floor_recommendation AS SELECT window_start, slot, argMax(samples, computed_at) AS samples, " +
            "argMax(optimal_floor_micros, computed_at) AS optimal_floor_micros, argMax(recommended_floor_micros, computed_at) AS recommended_floor_micros, " +
            "argMax(expected_revenue_per_bid_micros, computed_at) AS expected_revenue_per_bid_micros, argMax(confidence, computed_at) AS confidence, " +
            "argMax(status, computed_at) AS status FROM {database}.floor_recommendation_results GROUP BY window_start, slot",
        ]),
        new("budgets, pacing and alerts",
        [
            "CREATE TABLE IF NOT EXISTS {database}.campaign_budgets (campaign String, daily_budget_micros Int64, updated_at DateTime64(3, 'UTC') DEFAULT now64(3)) " +
            "ENGINE = ReplacingMergeTree(updated_at) ORDER BY campaign",
            "CREATE TABLE IF NOT EXISTS {database}.pacing_alerts (window_start DateTime('UTC'), campaign String, status LowCardinality(String), " +
            "previous_status LowCardinality(String), pace_ratio Float64, spend_today_micros Int64, daily_budget_micros Int64, raised_at DateTime64(3, 'UTC') DEFAULT now64(3)) " +
            "ENGINE = ReplacingMergeTree(raised_at) ORDER BY (campaign, window_start, status)",
            PacingView,
        ]),
        // Undefined values (no wins to learn from, a recommendation withheld) are NULL for analysts, never nan: the
        // results table keeps nan, the view turns it into NULL.
        new("floor recommendations: NULL where undefined",
        [
            "CREATE OR REPLACE VIEW {database}.floor_recommendation AS SELECT window_start, slot, argMax(samples, computed_at) AS samples, " +
            string.Join(", ", new[] { "optimal_floor_micros", "recommended_floor_micros", "expected_revenue_per_bid_micros", "confidence" }
                .Select(c => $"if(isNaN(argMax({c}, computed_at)), NULL, argMax({c}, computed_at)) AS {c}")) + ", " +
            "argMax(status, computed_at) AS status FROM {database}.floor_recommendation_results GROUP BY window_start, slot",
        ]),
    ];

    /// <summary>
    /// Spend today (UTC) per campaign up to each minute against the day's budget: the linear ideal (budget spread evenly
    /// over 1,440 minutes) and the traffic-shaped one (<see cref="HourlyTrafficWeights"/>, even within an hour); the pace
    /// ratio against the shaped ideal; a pacing multiplier (ideal / actual, 0..2) with the throttle probability that
    /// brings an over-delivering campaign back to pace (1 - multiplier, at least 0); and the status.
    /// </summary>
    private static string PacingView => "CREATE OR REPLACE VIEW {database}.campaign_pacing AS " + PacingRows("{database}");

    /// <summary>
    /// The query of <c>campaign_pacing</c> over <paramref name="database"/>; with <paramref name="fromDayOf"/> (an SQL
    /// time), only the rows of the UTC days from that time's on: a day's spend adds up from its first minute, so they are
    /// the view's rows for those days, without reading and adding up the days before (a WHERE on the view cannot do
    /// that: it does not reach through the running sum, and every query would read the whole history).
    /// </summary>
    public static string PacingRows(string database, string? fromDayOf = null) =>
        PacingQuery(fromDayOf).Replace("{database}", database, StringComparison.Ordinal);

    private static string PacingQuery(string? fromDayOf) =>
        "SELECT window_start, campaign, daily_budget_micros, spend_micros, spend_today_micros, " +
        "ideal_linear_micros, ideal_shaped_micros, if(ideal_shaped_micros = 0, 0, spend_today_micros / ideal_shaped_micros) AS pace_ratio, " +
        "least(2, if(spend_today_micros = 0, 2, ideal_shaped_micros / spend_today_micros)) AS pacing_multiplier, " +
        "greatest(0, 1 - pacing_multiplier) AS throttle_probability, " +
        "multiIf(spend_today_micros >= daily_budget_micros, 'exhausted', ideal_shaped_micros < daily_budget_micros * 0.01, 'warming_up', " +
        $"pace_ratio > {OverPace.ToString(CultureInfo.InvariantCulture)}, 'over', pace_ratio < {UnderPace.ToString(CultureInfo.InvariantCulture)}, 'under', 'on_pace') AS status FROM (" +
        "SELECT c.window_start AS window_start, c.campaign AS campaign, b.daily_budget_micros AS daily_budget_micros, c.spend_micros AS spend_micros, " +
        "sum(c.spend_micros) OVER (PARTITION BY c.campaign, toDate(c.window_start) ORDER BY c.window_start ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS spend_today_micros, " +
        "b.daily_budget_micros * (toHour(c.window_start) * 60 + toMinute(c.window_start) + 1) / 1440 AS ideal_linear_micros, " +
        $"b.daily_budget_micros * (arraySum(arraySlice({Weights}, 1, toHour(c.window_start))) + {Weights}[toHour(c.window_start) + 1] * (toMinute(c.window_start) + 1) / 60) " +
        $"/ {HourlyTrafficWeights.Sum()} AS ideal_shaped_micros " +
        "FROM {database}.campaign_minute AS c INNER JOIN (SELECT campaign, argMax(daily_budget_micros, updated_at) AS daily_budget_micros " +
        "FROM {database}.campaign_budgets GROUP BY campaign) AS b ON c.campaign = b.campaign" +
        (fromDayOf is null ? "" : $" WHERE c.window_start >= toStartOfDay({fromDayOf}, 'UTC')") + ")";

    private static string Weights => "[" + string.Join(", ", HourlyTrafficWeights) + "]";

    /// <summary>Statuses that raise an alert when a campaign enters them.</summary>
    public static IReadOnlySet<string> AlertingStatuses { get; } = new HashSet<string>(StringComparer.Ordinal) { "over", "under", "exhausted" };

    /// <summary>
    /// Reads a campaigns file: CSV with a header naming <c>campaign</c> and <c>daily_budget</c> (currency units, e.g.
    /// 250.00) or <c>daily_budget_micros</c>. Every problem names the file and line.
    /// </summary>
    public static IReadOnlyList<(string Campaign, long DailyBudgetMicros)> ReadCampaigns(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0)
        {
            throw new FormatException($"{path}: empty; expected a header 'campaign,daily_budget'");
        }

        var header = lines[0].Split(',').Select(h => h.Trim().ToLowerInvariant()).ToList();
        var campaignColumn = header.IndexOf("campaign");
        var budgetColumn = header.IndexOf("daily_budget");
        var microsColumn = header.IndexOf("daily_budget_micros");
        if (campaignColumn < 0 || (budgetColumn < 0 && microsColumn < 0))
        {
            throw new FormatException($"{path}:1: the header must name 'campaign' and 'daily_budget' (or 'daily_budget_micros'), not '{lines[0]}'");
        }

        var campaigns = new List<(string, long)>();
        var listedAt = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0 || lines[i].TrimStart().StartsWith('#'))
            {
                continue;
            }

            var fields = lines[i].Split(',').Select(f => f.Trim()).ToArray();
            var column = microsColumn >= 0 ? microsColumn : budgetColumn;
            if (fields.Length <= Math.Max(campaignColumn, column) || fields[campaignColumn].Length == 0)
            {
                throw new FormatException($"{path}:{i + 1}: expected a campaign and a budget, got '{lines[i]}'");
            }

            if (!decimal.TryParse(fields[column], NumberStyles.Number, CultureInfo.InvariantCulture, out var budget) || budget < 0)
            {
                throw new FormatException($"{path}:{i + 1}: '{fields[column]}' is not a budget (a non-negative number)");
            }

            // Rows of one file are one insert with one version: two budgets for a campaign would leave it to chance which counts.
            if (!listedAt.TryAdd(fields[campaignColumn], i + 1))
            {
                throw new FormatException($"{path}:{i + 1}: campaign '{fields[campaignColumn]}' has a budget on line {listedAt[fields[campaignColumn]]} already");
            }

            campaigns.Add((fields[campaignColumn], (long)(microsColumn >= 0 ? budget : budget * 1_000_000)));
        }

        return campaigns;
    }
}
