using StreamEngine.AdEvents;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Results;

namespace PublisherMinute;

/// <summary>
/// <c>publisher-minute</c>: impressions and spend per publisher and minute, into <c>ads.publisher_minute</c>.
/// Publishers span partitions (messages are keyed by campaign): each partition writes its partial and the view adds them up.
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

    public override IReadOnlyList<ResultTable<int, (long Impressions, long SpendMicros)>> Results(Utf8Names names) =>
    [
        ResultTable.Of<int, (long Impressions, long SpendMicros)>("publisher_minute")
            .Key("publisher", ColumnType.Utf8, names.Of)
            .Sum("impressions", ColumnType.UInt64, v => v.Impressions)
            .Sum("spend_micros", ColumnType.Int64, v => v.SpendMicros)
            .Build(),
    ];
}
