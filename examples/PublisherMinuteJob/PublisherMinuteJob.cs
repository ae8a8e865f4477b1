using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.AdEvents;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace PublisherMinute;

/// <summary>
/// <c>publisher-minute</c>: impressions and spend per publisher and minute, into <c>ads.publisher_minute</c>.
/// Publishers span partitions (messages are keyed by campaign), so each partition writes its partial and the view
/// adds them up. The whole job: a pipeline, a schema, a row mapping.
/// </summary>
public sealed class PublisherMinuteJob : AdJob<int, (long Impressions, long SpendMicros)>
{
    public override string Name => "publisher-minute";

    public override string Summary => "per publisher and minute: impressions and spend -> ads.publisher_minute (example job)";

    public override IObservable<WindowOutput<int, (long Impressions, long SpendMicros), AdEvent>> Build(
        IObservable<EventBatch<AdEvent>> events, JobContext context, SymbolTable symbols) =>
        Aggregate(
            events.WithEventTime(e => e.TimestampMs)
                .Deduplicate(e => e.Id)
                .Where(e => e.Type == AdEventType.Impression)
                .KeyBy(e => e.Publisher)
                .Window(Windows.Tumbling(TimeSpan.FromMinutes(1))),
            Aggregators.Combine(Aggregators.Count<AdEvent>(), Aggregators.Sum<AdEvent>(e => e.SpendMicros)),
            context);

    public override KeyCodec<int> KeyCodec(SymbolTable symbols) => InternedNames(symbols);

    public override IReadOnlyList<SchemaStep> Schema { get; } =
    [
        new(1001, "publisher-minute: partials and view",
        [
            "CREATE TABLE IF NOT EXISTS {database}.publisher_minute_results (window_start DateTime64(3, 'UTC'), publisher String, " +
            "source_partition Int32, impressions UInt64, spend_micros Int64, version UInt64) " +
            "ENGINE = ReplacingMergeTree(version) ORDER BY (publisher, window_start, source_partition)",
            "CREATE OR REPLACE VIEW {database}.publisher_minute AS SELECT toDateTime(window_start, 'UTC') AS window_start, publisher, " +
            "sum(i) AS impressions, sum(s) AS spend_micros FROM (SELECT window_start, publisher, source_partition, argMax(impressions, version) AS i, " +
            "argMax(spend_micros, version) AS s FROM {database}.publisher_minute_results GROUP BY window_start, publisher, source_partition) " +
            "GROUP BY window_start, publisher",
        ]),
    ];

    public override IReadOnlyList<TableRows> ToRows(IReadOnlyList<WindowResult<int, (long Impressions, long SpendMicros)>> results, Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(names);
        var windowStart = new TimestampArray.Builder(new TimestampType(TimeUnit.Millisecond, "UTC"));
        var publisher = new StringArray.Builder();
        var partition = new Int32Array.Builder();
        var impressions = new UInt64Array.Builder();
        var spend = new Int64Array.Builder();
        var version = new UInt64Array.Builder();
        foreach (var r in results)
        {
            windowStart.Append(DateTimeOffset.FromUnixTimeMilliseconds(r.WindowStartMs));
            publisher.Append(names.Of(r.Key));
            partition.Append(r.Partition);
            impressions.Append((ulong)r.Value.Impressions);
            spend.Append(r.Value.SpendMicros);
            version.Append((ulong)r.Version);
        }

        return
        [
            new("publisher_minute_results", new RecordBatch.Builder()
                .Append("window_start", false, windowStart.Build())
                .Append("publisher", false, publisher.Build())
                .Append("source_partition", false, partition.Build())
                .Append("impressions", false, impressions.Build())
                .Append("spend_micros", false, spend.Build())
                .Append("version", false, version.Build())
                .Build()),
        ];
    }
}
