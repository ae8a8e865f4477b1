using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.Core.AdEvents;
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
    public override string Name => "ad-metrics";

    public override string Summary =>
        "per campaign and minute: bids, wins, impressions, clicks, conversions, spend, CTR, eCPM, unique users -> ads.campaign_minute; raw events -> ads.events";

    public override string ResultsTable => "campaign_minute_results";

    public override bool WritesRawEvents => true;

    public override IObservable<WindowOutput<int, CampaignMinute, AdEvent>> Build(IObservable<EventBatch<AdEvent>> events, JobContext context) =>
        Aggregate(
            events.WithEventTime(e => e.TimestampMs)
                .Deduplicate(e => e.Id)
                .KeyBy(e => e.Campaign)
                .Window(Windows.Tumbling(TimeSpan.FromMinutes(1))),
            new CampaignMinuteAggregator(),
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
    ];

    /// <summary>Result rows as one Arrow batch for the results table (retractions do not occur for tumbling windows).</summary>
    public override RecordBatch ToRows(IReadOnlyList<WindowResult<int, CampaignMinute>> results, Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(names);
        var windowStart = new TimestampArray.Builder(new TimestampType(TimeUnit.Millisecond, "UTC"));
        var campaign = new StringArray.Builder();
        var partition = new Int32Array.Builder();
        var columns = Enumerable.Range(0, 8).Select(_ => new UInt64Array.Builder()).ToArray();
        var spend = new Int64Array.Builder();
        var final = new UInt8Array.Builder();
        foreach (var r in results)
        {
            windowStart.Append(DateTimeOffset.FromUnixTimeMilliseconds(r.WindowStartMs));
            campaign.Append(names.Of(r.Key));
            partition.Append(Math.Max(0, r.Partition));
            var v = r.Value;
            columns[0].Append((ulong)v.Bids);
            columns[1].Append((ulong)v.Wins);
            columns[2].Append((ulong)v.Impressions);
            columns[3].Append((ulong)v.Clicks);
            columns[4].Append((ulong)v.Conversions);
            columns[5].Append((ulong)v.UniqueUsers);
            columns[6].Append((ulong)r.Version);
            spend.Append(v.SpendMicros);
            final.Append(r.IsFinal ? (byte)1 : (byte)0);
        }

        return new RecordBatch.Builder()
            .Append("window_start", false, windowStart.Build())
            .Append("campaign", false, campaign.Build())
            .Append("source_partition", false, partition.Build())
            .Append("bids", false, columns[0].Build())
            .Append("wins", false, columns[1].Build())
            .Append("impressions", false, columns[2].Build())
            .Append("clicks", false, columns[3].Build())
            .Append("conversions", false, columns[4].Build())
            .Append("spend_micros", false, spend.Build())
            .Append("unique_users", false, columns[5].Build())
            .Append("version", false, columns[6].Build())
            .Append("is_final", false, final.Build())
            .Build();
    }
}
