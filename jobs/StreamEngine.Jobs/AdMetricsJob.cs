using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Jobs;

/// <summary>
/// <c>ad-metrics</c>: per campaign and minute, bids, wins, impressions, clicks, conversions, spend and unique users,
/// into <c>ads.campaign_minute</c>. State is per source partition; events are keyed by campaign on the wire, so a
/// campaign's minute is normally whole in one partition.
/// </summary>
public sealed class AdMetricsJob : AdJob<int, CampaignMinute>
{
    /// <summary>The job's name, for readers of its stored progress (dynamic-pricing).</summary>
    public const string JobName = "ad-metrics";

    public override string Name => JobName;

    public override string Summary =>
        "per campaign and minute: bids, wins, impressions, clicks, conversions, spend, CTR, eCPM, unique users -> ads.campaign_minute; " +
        "by creative -> ads.ad_minute; by country and device -> ads.campaign_geo_device_minute; raw events -> ads.events";

    public override bool WritesRawEvents => true;

    public override IObservable<WindowOutput<int, CampaignMinute, AdEvent>> Build(IObservable<EventBatch<AdEvent>> events, JobContext context, SymbolTable symbols) =>
        Aggregate(
            events.WithEventTime(e => e.TimestampMs)
                .Deduplicate(e => e.Id)
                .KeyBy(e => e.Campaign)
                .Window(Windows.Tumbling(TimeSpan.FromMinutes(1))),
            new CampaignMinuteAggregator(symbols),
            context);

    public override KeyCodec<int> KeyCodec(SymbolTable symbols) => InternedNames(symbols);

    /// <summary>
    /// Versioned schema: rows keyed by (campaign, minute, source partition) with the window's version; the
    /// analysts' view takes each partition's newest version and adds the partitions up (no FINAL needed by the
    /// reader). Campaigns are the message key, so a campaign's minute normally has one partition; if producers key
    /// otherwise, the partials still add up (unique users then count a user once per partition).
    /// </summary>
    public override IReadOnlyList<SchemaStep> Schema { get; } =
    [
        new(101, "ad-metrics: campaign_minute results and view",
        [
            "CREATE TABLE IF NOT EXISTS {database}.campaign_minute_results (window_start DateTime64(3, 'UTC'), campaign String, bids UInt64, wins UInt64, " +
            "impressions UInt64, clicks UInt64, conversions UInt64, spend_micros Int64, unique_users UInt64, version UInt64, is_final UInt8, " +
            "written_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(version) ORDER BY (campaign, window_start)",
        ]),
        new(102, "ad-metrics: per-partition partials",
        [
            "ALTER TABLE {database}.campaign_minute_results ADD COLUMN IF NOT EXISTS source_partition Int32 AFTER campaign, " +
            "MODIFY ORDER BY (campaign, window_start, source_partition)",
            "CREATE OR REPLACE VIEW {database}.campaign_minute AS SELECT toDateTime(window_start, 'UTC') AS window_start, campaign, " +
            "sum(bids) AS bids, sum(wins) AS wins, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(conversions) AS conversions, " +
            "sum(spend_micros) AS spend_micros, if(impressions = 0, 0, clicks / impressions) AS ctr, " +
            "if(impressions = 0, 0, spend_micros * 1000 / impressions) AS ecpm_micros, sum(unique_users) AS unique_users FROM (" +
            "SELECT window_start, campaign, source_partition, argMax(bids, version) AS bids, argMax(wins, version) AS wins, " +
            "argMax(impressions, version) AS impressions, argMax(clicks, version) AS clicks, argMax(conversions, version) AS conversions, " +
            "argMax(spend_micros, version) AS spend_micros, argMax(unique_users, version) AS unique_users " +
            "FROM {database}.campaign_minute_results GROUP BY window_start, campaign, source_partition) GROUP BY window_start, campaign",
        ]),
        new(103, "ad-metrics: breakdowns by creative, country and device",
        [
            "CREATE TABLE IF NOT EXISTS {database}.campaign_breakdown_results (window_start DateTime64(3, 'UTC'), campaign String, source_partition Int32, " +
            "ad String, country LowCardinality(String), device LowCardinality(String), bids UInt64, wins UInt64, impressions UInt64, clicks UInt64, " +
            "conversions UInt64, spend_micros Int64, version UInt64, is_final UInt8, written_at DateTime64(3, 'UTC') DEFAULT now64(3)) " +
            "ENGINE = ReplacingMergeTree(version) ORDER BY (campaign, window_start, ad, country, device, source_partition)",
            BreakdownView("ad_minute", "ad"),
            BreakdownView("campaign_geo_device_minute", "country, device"),
        ]),
    ];

    /// <summary>
    /// A view over the breakdown partials: each partition's newest version of each part, added up over partitions and
    /// the parts not in <paramref name="by"/>, with CTR and eCPM like <c>ads.campaign_minute</c>.
    /// </summary>
    private static string BreakdownView(string name, string by) =>
        $"CREATE OR REPLACE VIEW {{database}}.{name} AS SELECT toDateTime(window_start, 'UTC') AS window_start, campaign, {by}, " +
        "sum(p_bids) AS bids, sum(p_wins) AS wins, sum(p_impressions) AS impressions, sum(p_clicks) AS clicks, sum(p_conversions) AS conversions, " +
        "sum(p_spend) AS spend_micros, if(impressions = 0, 0, clicks / impressions) AS ctr, if(impressions = 0, 0, spend_micros * 1000 / impressions) AS ecpm_micros FROM (" +
        "SELECT window_start, campaign, ad, country, device, source_partition, argMax(bids, version) AS p_bids, argMax(wins, version) AS p_wins, " +
        "argMax(impressions, version) AS p_impressions, argMax(clicks, version) AS p_clicks, argMax(conversions, version) AS p_conversions, " +
        "argMax(spend_micros, version) AS p_spend FROM {database}.campaign_breakdown_results " +
        $"GROUP BY window_start, campaign, ad, country, device, source_partition) GROUP BY window_start, campaign, {by}";

    /// <summary>
    /// Rows for the campaign table (each window's newest result) and the breakdown table (each part that changed,
    /// with the version of the newest result that carried it: results carry only their changed parts, so every
    /// result is read, not only the newest; retractions do not occur for tumbling windows).
    /// </summary>
    public override IReadOnlyList<TableRows> ToRows(IReadOnlyList<WindowResult<int, CampaignMinute>> results, Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(names);
        var campaigns = new ResultColumns(names);
        var users = new UInt64Array.Builder();
        foreach (var r in results.LatestPerWindow())
        {
            var v = r.Value;
            campaigns.Append(r, new EventCounts(v.Bids, v.Wins, v.Impressions, v.Clicks, v.Conversions, v.SpendMicros));
            users.Append((ulong)v.UniqueUsers);
        }

        // A part changed by several results of this batch: its newest counts, with that result's version.
        var changedParts = new Dictionary<(long WindowStartMs, int Campaign, int Partition, BreakdownKey Part), (int Result, EventCounts Counts)>();
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            foreach (var (part, counts) in r.Value.Breakdown)
            {
                changedParts[(r.WindowStartMs, r.Key, r.Partition, part)] = (i, counts);
            }
        }

        var parts = new ResultColumns(names);
        var ad = new StringArray.Builder();
        var country = new StringArray.Builder();
        var device = new StringArray.Builder();
        foreach (var ((_, _, _, part), (index, counts)) in changedParts)
        {
            parts.Append(results[index], counts);
            ad.Append(names.Of(part.Ad));
            country.Append(Codes.Unpack(part.Country));
            device.Append(WireNames.DeviceUtf8(part.Device));
        }

        return
        [
            new("campaign_minute_results", campaigns.Build(b => b.Append("unique_users", false, users.Build()))),
            new("campaign_breakdown_results", parts.Build(b => b
                .Append("ad", false, ad.Build())
                .Append("country", false, country.Build())
                .Append("device", false, device.Build()))),
        ];
    }

    /// <summary>
    /// <c>adtrack.metrics.campaign.CAMPAIGN</c>: the campaign's minute as <c>ads.campaign_minute</c> has it (window_start,
    /// counts, spend, CTR, eCPM, unique users), and whether it is final.
    /// </summary>
    public override IEnumerable<LiveUpdate> Live(IReadOnlyList<WindowResult<int, CampaignMinute>> results, SymbolTable symbols)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(symbols);
        foreach (var r in results.LatestPerWindow())
        {
            var campaign = symbols.Name(r.Key);
            var v = r.Value;
            yield return new LiveUpdate(AdLiveTopics.CampaignMetrics, campaign, r.WindowStartMs, LiveJson.Write(json =>
            {
                json.WriteString("campaign", campaign);
                json.WriteString("window_start", DateTimeOffset.FromUnixTimeMilliseconds(r.WindowStartMs));
                json.WriteNumber("bids", v.Bids);
                json.WriteNumber("wins", v.Wins);
                json.WriteNumber("impressions", v.Impressions);
                json.WriteNumber("clicks", v.Clicks);
                json.WriteNumber("conversions", v.Conversions);
                json.WriteNumber("spend_micros", v.SpendMicros);
                json.WriteNumber("ctr", v.Impressions == 0 ? 0 : (double)v.Clicks / v.Impressions);
                json.WriteNumber("ecpm_micros", v.Impressions == 0 ? 0 : v.SpendMicros * 1000.0 / v.Impressions);
                json.WriteNumber("unique_users", v.UniqueUsers);
                json.WriteBoolean("final", r.IsFinal);
            }))
            {
                Volume = v.Impressions,
            };
        }
    }

    /// <summary>The columns every ad-metrics results table has: the window, campaign, partition, counts, version.</summary>
    private sealed class ResultColumns(Utf8Names names)
    {
        private readonly TimestampArray.Builder _windowStart = new(new TimestampType(TimeUnit.Millisecond, "UTC"));
        private readonly StringArray.Builder _campaign = new();
        private readonly Int32Array.Builder _partition = new();
        private readonly UInt64Array.Builder[] _counts = [.. Enumerable.Range(0, 6).Select(_ => new UInt64Array.Builder())];
        private readonly Int64Array.Builder _spend = new();
        private readonly UInt8Array.Builder _final = new();

        public void Append(in WindowResult<int, CampaignMinute> result, in EventCounts counts)
        {
            _windowStart.Append(DateTimeOffset.FromUnixTimeMilliseconds(result.WindowStartMs));
            _campaign.Append(names.Of(result.Key));
            _partition.Append(Math.Max(0, result.Partition));
            _counts[0].Append((ulong)counts.Bids);
            _counts[1].Append((ulong)counts.Wins);
            _counts[2].Append((ulong)counts.Impressions);
            _counts[3].Append((ulong)counts.Clicks);
            _counts[4].Append((ulong)counts.Conversions);
            _counts[5].Append((ulong)result.Version);
            _spend.Append(counts.SpendMicros);
            _final.Append(result.IsFinal ? (byte)1 : (byte)0);
        }

        public RecordBatch Build(Func<RecordBatch.Builder, RecordBatch.Builder> more) =>
            more(new RecordBatch.Builder()
                .Append("window_start", false, _windowStart.Build())
                .Append("campaign", false, _campaign.Build())
                .Append("source_partition", false, _partition.Build())
                .Append("bids", false, _counts[0].Build())
                .Append("wins", false, _counts[1].Build())
                .Append("impressions", false, _counts[2].Build())
                .Append("clicks", false, _counts[3].Build())
                .Append("conversions", false, _counts[4].Build())
                .Append("spend_micros", false, _spend.Build())
                .Append("version", false, _counts[5].Build())
                .Append("is_final", false, _final.Build()))
            .Build();
    }
}
