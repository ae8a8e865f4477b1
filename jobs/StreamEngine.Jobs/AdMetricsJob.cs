using System.Runtime.InteropServices;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Results;

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
    /// <c>ads.campaign_minute</c> (one row per campaign, minute and partition) and the breakdown partials behind
    /// <c>ads.ad_minute</c> and <c>ads.campaign_geo_device_minute</c>. Campaigns are the message key, so a campaign's
    /// minute normally has one partition; if producers key otherwise, the partials still add up (unique users then count
    /// a user once per partition).
    /// </summary>
    public override IReadOnlyList<ResultTable<int, CampaignMinute>> Results(Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(names);
        return
        [
            ResultTable.Of<int, CampaignMinute>("campaign_minute")
                .Key("campaign", ColumnType.Utf8, names.Of)
                .Counts(v => new EventCounts(v.Bids, v.Wins, v.Impressions, v.Clicks, v.Conversions, v.SpendMicros))
                .Sum("unique_users", ColumnType.UInt64, v => v.UniqueUsers)
                .Build(),
            ResultTable.Of<int, CampaignMinute, KeyValuePair<BreakdownKey, EventCounts>>("campaign_breakdown", ChangedParts)
                .Key("campaign", ColumnType.Utf8, names.Of)
                .Part("ad", ColumnType.Utf8, p => names.Of(p.Key.Ad))
                .Part("country", ColumnType.LowCardinality(ColumnType.String), p => Codes.Unpack(p.Key.Country))
                .Part("device", ColumnType.LowCardinality(ColumnType.String), p => WireNames.Device(p.Key.Device))
                .Counts(p => p.Value)
                .View("ad_minute", "campaign", "ad")
                .View("campaign_geo_device_minute", "campaign", "country", "device")
                .Build(),
        ];
    }

    /// <summary>
    /// Each breakdown part that changed in the batch, with the newest result that carried it: results carry only their
    /// changed parts, so every result is read, not only the newest; retractions do not occur for tumbling windows.
    /// A window's newest result holds the newest counts of the parts it carries; an older one adds the parts no newer
    /// one carries. Most windows have one result per batch, so only windows are looked up, not their parts (a
    /// dictionary of every part was most of a catch-up checkpoint's row building, and large-object garbage).
    /// </summary>
    private static IEnumerable<(WindowResult<int, CampaignMinute>, KeyValuePair<BreakdownKey, EventCounts>)> ChangedParts(IReadOnlyList<WindowResult<int, CampaignMinute>> results)
    {
        var newest = new Dictionary<(long WindowStartMs, int Campaign, int Partition), int>(results.Count);
        var previous = new int[results.Count]; // the index of the same window's previous result, or -1
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(newest, (r.WindowStartMs, r.Key, r.Partition), out var seen);
            previous[i] = seen ? last : -1;
            last = i;
        }

        HashSet<BreakdownKey>? written = null;
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            if (newest[(r.WindowStartMs, r.Key, r.Partition)] != i)
            {
                continue; // written with the window's newest result
            }

            if (previous[i] < 0)
            {
                foreach (var part in r.Value.Breakdown)
                {
                    yield return (r, part);
                }

                continue;
            }

            (written ??= []).Clear();
            for (var at = i; at >= 0; at = previous[at])
            {
                foreach (var part in results[at].Value.Breakdown)
                {
                    if (written.Add(part.Key))
                    {
                        yield return (results[at], part);
                    }
                }
            }
        }
    }

    /// <summary>
    /// <c>adtrack.metrics.campaign.CAMPAIGN</c>: one source partition's part of the campaign's minute (window_start,
    /// partition, counts, spend, CTR, eCPM, unique users), and whether it is final. Added up over partitions it is the
    /// row of <c>ads.campaign_minute</c>, as the view adds the stored partials up; with messages keyed by campaign
    /// (the contract's keying) one partition holds the whole campaign.
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
                json.WriteNumber("partition", r.Partition);
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
                Partition = r.Partition,
            };
        }
    }
}

/// <summary>The counts every ad-metrics table has, with CTR and eCPM after them in the views.</summary>
internal static class EventCountColumns
{
    public static ResultTableBuilder<int, CampaignMinute, TRow> Counts<TRow>(this ResultTableBuilder<int, CampaignMinute, TRow> table, Func<TRow, EventCounts> counts) =>
        table.Sum("bids", ColumnType.UInt64, r => counts(r).Bids)
            .Sum("wins", ColumnType.UInt64, r => counts(r).Wins)
            .Sum("impressions", ColumnType.UInt64, r => counts(r).Impressions)
            .Sum("clicks", ColumnType.UInt64, r => counts(r).Clicks)
            .Sum("conversions", ColumnType.UInt64, r => counts(r).Conversions)
            .Sum("spend_micros", ColumnType.Int64, r => counts(r).SpendMicros)
            .Derived("ctr", "if(impressions = 0, 0, clicks / impressions)")
            .Derived("ecpm_micros", "if(impressions = 0, 0, spend_micros * 1000 / impressions)");
}
