using System.Globalization;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Jobs;

namespace StreamEngine.Host.Dashboard;

/// <summary>
/// The SQL behind the dashboard's read API, over the analysts' views (<c>campaign_minute</c>, <c>campaign_pacing</c>,
/// <c>slot_minute</c>, <c>floor_recommendation</c>, the breakdowns) and, where a view has no column for it, the results
/// tables themselves (whether a minute is final, the price buckets). Times go out as Unix milliseconds (<c>t</c>);
/// every id is a literal, never spliced text; every query is bounded in time and rows.
/// </summary>
internal sealed class ResultsQueries(string database)
{
    /// <summary>
    /// Appended to every query: plain JSON numbers and a time limit (rows are bounded by each query's LIMIT:
    /// <c>max_result_rows</c> would also count the rows of subqueries, such as the pacing query's day).
    /// </summary>
    private const string Settings =
        " SETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_quote_denormals = 0, max_execution_time = 10";

    private readonly string _db = ClickHouseSql.Identifier(database);

    /// <summary>The price a sketch bucket stands for: 2·γ^b/(γ+1) micros, γ = (1+a)/(1-a); bucket -32768 holds zeros.</summary>
    private static readonly string BucketPrice = string.Create(CultureInfo.InvariantCulture,
        $"if(b = -32768, 0, round(2 * pow({Gamma}, b) / ({Gamma} + 1)))");

    private static double Gamma => (1 + SlotMinuteAggregator.RelativeAccuracy) / (1 - SlotMinuteAggregator.RelativeAccuracy);

    /// <summary>
    /// The newest campaign minute stored, but never past the clock's minute (the decoder accepts events up to an hour
    /// ahead: one of them must not move everyone's "now"); Unix ms, 0 when nothing is stored.
    /// </summary>
    public string NewestCampaignMinute() => Newest("campaign_minute_results");

    /// <summary>The newest slot minute stored, as <see cref="NewestCampaignMinute"/>.</summary>
    public string NewestSlotMinute() => Newest("slot_minute_results");

    private string Newest(string table) =>
        $"SELECT if(count() = 0, 0, toUnixTimestamp(least(toDateTime(max(window_start), 'UTC'), toStartOfMinute(now('UTC')))) * 1000) AS newest FROM {_db}.{table}" + Settings;

    /// <summary>Per campaign, its counts between two minutes (the overview's day so far).</summary>
    public string CampaignTotals(Span span) =>
        "SELECT campaign, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(conversions) AS conversions, sum(spend_micros) AS spend_micros, " +
        $"sum(bids) AS bids, sum(wins) AS wins FROM {_db}.campaign_minute WHERE {span.Where} GROUP BY campaign ORDER BY impressions DESC, campaign LIMIT 5000" + Settings;

    /// <summary>Per campaign, its newest pacing row in the span.</summary>
    public string LatestPacing(Span span) =>
        "SELECT campaign, toUnixTimestamp(window_start) * 1000 AS t, daily_budget_micros, spend_today_micros, pace_ratio, throttle_probability, status " +
        $"FROM ({Pacing(span)}) WHERE {span.Where} ORDER BY campaign, window_start DESC LIMIT 1 BY campaign" + Settings;

    /// <summary>Per campaign and minute, the impressions (the overview's sparklines).</summary>
    public string Sparklines(Span span) =>
        $"SELECT campaign, toUnixTimestamp(window_start) * 1000 AS t, impressions FROM {_db}.campaign_minute WHERE {span.Where} ORDER BY campaign, window_start LIMIT 300000" + Settings;

    public string CampaignMinutes(string campaign, Span span) =>
        "SELECT toUnixTimestamp(window_start) * 1000 AS t, bids, wins, impressions, clicks, conversions, spend_micros, unique_users, ctr, ecpm_micros " +
        $"FROM {_db}.campaign_minute WHERE campaign = {ClickHouseSql.Literal(campaign)} AND {span.Where} ORDER BY window_start LIMIT 1440" + Settings;

    /// <summary>Per minute, whether every partition's newest partial is final (the view has no column for it).</summary>
    public string CampaignFinality(string campaign, Span span) =>
        "SELECT toUnixTimestamp64Milli(window_start) AS t, toBool(min(f)) AS final FROM (SELECT window_start, source_partition, argMax(is_final, version) AS f " +
        $"FROM {_db}.campaign_minute_results WHERE campaign = {ClickHouseSql.Literal(campaign)} AND {span.Where} GROUP BY window_start, source_partition) " +
        "GROUP BY window_start ORDER BY window_start LIMIT 1440" + Settings;

    /// <summary><c>campaign_pacing</c>'s rows of the span's days, not of the whole history (<see cref="DynamicPricing.PacingRows"/>).</summary>
    private string Pacing(Span span) => DynamicPricing.PacingRows(_db, string.Create(CultureInfo.InvariantCulture, $"toDateTime({span.FromMs / 1000}, 'UTC')"));

    public string CampaignPacing(string campaign, Span span) =>
        "SELECT toUnixTimestamp(window_start) * 1000 AS t, daily_budget_micros, spend_micros, spend_today_micros, ideal_linear_micros, ideal_shaped_micros, " +
        $"pace_ratio, pacing_multiplier, throttle_probability, status FROM ({Pacing(span)}) WHERE campaign = {ClickHouseSql.Literal(campaign)} AND {span.Where} " +
        "ORDER BY window_start LIMIT 1440" + Settings;

    public string ByAd(string campaign, Span span) =>
        "SELECT ad, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(conversions) AS conversions, sum(spend_micros) AS spend_micros " +
        $"FROM {_db}.ad_minute WHERE campaign = {ClickHouseSql.Literal(campaign)} AND {span.Where} GROUP BY ad ORDER BY impressions DESC, ad LIMIT 100" + Settings;

    public string ByCountryAndDevice(string campaign, Span span) =>
        "SELECT country, device, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(conversions) AS conversions, sum(spend_micros) AS spend_micros " +
        $"FROM {_db}.campaign_geo_device_minute WHERE campaign = {ClickHouseSql.Literal(campaign)} AND {span.Where} " +
        "GROUP BY country, device ORDER BY impressions DESC, country, device LIMIT 200" + Settings;

    /// <summary>Pacing alerts in the span, newest first; of one campaign, or of all when <paramref name="campaign"/> is null.</summary>
    public string Alerts(string? campaign, Span span, int limit) =>
        "SELECT toUnixTimestamp(window_start) * 1000 AS t, campaign, status, previous_status, pace_ratio, spend_today_micros, daily_budget_micros, " +
        $"toUnixTimestamp64Milli(raised_at) AS raised_at FROM {_db}.pacing_alerts FINAL WHERE {span.Where}" +
        (campaign is null ? "" : $" AND campaign = {ClickHouseSql.Literal(campaign)}") +
        string.Create(CultureInfo.InvariantCulture, $" ORDER BY window_start DESC, campaign, status LIMIT {limit}") + Settings;

    /// <summary>Slots by bids in the span, busiest first.</summary>
    public string Slots(Span span) =>
        $"SELECT slot, sum(bids) AS bids, sum(wins) AS wins FROM {_db}.slot_minute WHERE {span.Where} GROUP BY slot ORDER BY bids DESC, slot LIMIT 1000" + Settings;

    public string SlotMinutes(string slot, Span span) =>
        "SELECT toUnixTimestamp(window_start) * 1000 AS t, bids, wins, win_rate, bid_p50_micros, bid_p90_micros, bid_p99_micros, clearing_p50_micros, " +
        "clearing_p90_micros, clearing_p99_micros, bids_with_floor, floor_avg_micros " +
        $"FROM {_db}.slot_minute WHERE slot = {ClickHouseSql.Literal(slot)} AND {span.Where} ORDER BY window_start LIMIT 1440" + Settings;

    public string Floors(string slot, Span span) =>
        "SELECT toUnixTimestamp(window_start) * 1000 AS t, samples, optimal_floor_micros, recommended_floor_micros, expected_revenue_per_bid_micros, confidence, status " +
        $"FROM {_db}.floor_recommendation WHERE slot = {ClickHouseSql.Literal(slot)} AND {span.Where} ORDER BY window_start LIMIT 1440" + Settings;

    /// <summary>
    /// A slot's bid or clearing prices over the span, from the stored sketch buckets (each partition's newest partial,
    /// added up bucket by bucket, as <c>slot_minute</c> does): one row per bucket, its price and count.
    /// </summary>
    public string PriceBuckets(string slot, Span span, PriceKind kind)
    {
        var column = kind == PriceKind.Bid ? "bid" : "clearing";
        // Buckets and counts from the same row (two argMax could pick different rows of one version).
        return $"SELECT b AS bucket, {BucketPrice} AS price_micros, sum(c) AS count FROM (SELECT argMax(({column}_buckets, {column}_counts), version) AS newest " +
               $"FROM {_db}.slot_minute_results WHERE slot = {ClickHouseSql.Literal(slot)} AND {span.Where} GROUP BY window_start, source_partition) " +
               "ARRAY JOIN newest.1 AS b, newest.2 AS c GROUP BY b HAVING count > 0 ORDER BY b LIMIT 70000" + Settings;
    }
}

internal enum PriceKind
{
    Bid,
    Clearing,
}

/// <summary>Minutes from <see cref="FromMs"/> to <see cref="ToMs"/>, both included (Unix ms, whole minutes).</summary>
internal readonly record struct Span(long FromMs, long ToMs)
{
    public string Where => string.Create(CultureInfo.InvariantCulture,
        $"window_start >= toDateTime({FromMs / 1000}, 'UTC') AND window_start <= toDateTime({ToMs / 1000}, 'UTC')");

    /// <summary>The UTC day of <paramref name="minuteMs"/> up to that minute.</summary>
    public static Span DayOf(long minuteMs) => new(minuteMs - (minuteMs % 86_400_000), minuteMs);

    /// <summary>The <paramref name="minutes"/> minutes up to <paramref name="minuteMs"/>.</summary>
    public static Span Last(int minutes, long minuteMs) => new(minuteMs - ((minutes - 1) * 60_000L), minuteMs);
}
