using StreamEngine.AdEvents;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Results;

namespace AcmeJob;

/// <summary><c>acme-minute</c>: clicks and conversions per campaign and minute, into <c>ads.acme_minute</c>.</summary>
public sealed class AcmeJob : AdJob<int, (long Clicks, long Conversions)>
{
    public override string Name => "acme-minute";

    public override string Summary => "per campaign and minute: clicks and conversions -> ads.acme_minute";

    public override IObservable<WindowOutput<int, (long Clicks, long Conversions), AdEvent>> Build(
        IObservable<EventBatch<AdEvent>> events, JobContext context, SymbolTable symbols) =>
        Aggregate(
            events.WithEventTime(e => e.TimestampMs)
                .Deduplicate(e => e.Id)
                .Where(e => e.Type is AdEventType.Click or AdEventType.Conversion)
                .KeyBy(e => e.Campaign)
                .Window(Windows.Tumbling(TimeSpan.FromMinutes(1))),
            Aggregators.Combine(
                Aggregators.Sum<AdEvent>(e => e.Type == AdEventType.Click ? 1 : 0),
                Aggregators.Sum<AdEvent>(e => e.Type == AdEventType.Conversion ? 1 : 0)),
            context);

    // Campaigns are interned ids: snapshots carry their names.
    public override KeyCodec<int> KeyCodec(SymbolTable symbols) => InternedNames(symbols);

    // The results table, declared once: ads.acme_minute_results, the view ads.acme_minute, and the rows.
    public override IReadOnlyList<ResultTable<int, (long Clicks, long Conversions)>> Results(Utf8Names names) =>
    [
        ResultTable.Of<int, (long Clicks, long Conversions)>("acme_minute")
            .Key("campaign", ColumnType.Utf8, names.Of)
            .Sum("clicks", ColumnType.UInt64, v => v.Clicks)
            .Sum("conversions", ColumnType.UInt64, v => v.Conversions)
            .Derived("conversion_rate", "if(clicks = 0, 0, conversions / clicks)")
            .Build(),
    ];
}
