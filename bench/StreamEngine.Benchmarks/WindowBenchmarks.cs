using System.Reactive.Linq;
using System.Reactive.Subjects;
using BenchmarkDotNet.Attributes;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Sketches;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Benchmarks;

/// <summary>
/// Per-event cost of the core's windowed aggregation, against the same work done the naive Rx way (one OnNext per
/// event, GroupBy per key and window, Aggregate per group). Each operation processes <see cref="EventCount"/> events.
/// </summary>
[MemoryDiagnoser]
public class WindowBenchmarks
{
    private const int EventCount = 1_000_000;
    private const int BatchSize = 10_000;
    private static readonly WindowOptions Options = new() { WatermarkDelay = TimeSpan.FromSeconds(2), AllowedLateness = TimeSpan.FromSeconds(30), EmitInterval = TimeSpan.Zero };

    private BenchEvent[] _events = [];
    private StreamEngine.Core.Events.EventBatch<BenchEvent>[] _batches = [];
    private readonly List<WindowResult<int, (long, long)>> _results = new(100_000);
    private readonly List<WindowResult<int, long>> _countResults = new(100_000);
    private readonly List<LateEvent<BenchEvent>> _late = [];

    [GlobalSetup]
    public void Setup()
    {
        _events = BenchInput.Events(EventCount, keys: 10_000);
        _batches = BenchInput.Batches(_events, BatchSize);
    }

    /// <summary>Tumbling 1-minute count and sum per key, 10k keys.</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public int TumblingCountSum()
    {
        var engine = new WindowedAggregation<BenchEvent, int, (long, long), (long, long)>(
            new WindowedAggregationSpec<BenchEvent, int>(e => e.TimestampMs, e => e.Key, Windows.Tumbling(TimeSpan.FromMinutes(1))),
            Aggregators.Combine(Aggregators.Count<BenchEvent>(), Aggregators.Sum<BenchEvent>(e => e.PriceMicros)), Options);
        return Run(engine, _results);
    }

    /// <summary>The same, with dedup by event id on.</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public int TumblingCountSumWithDedup()
    {
        var engine = new WindowedAggregation<BenchEvent, int, (long, long), (long, long)>(
            new WindowedAggregationSpec<BenchEvent, int>(e => e.TimestampMs, e => e.Key, Windows.Tumbling(TimeSpan.FromMinutes(1)), EventId: e => e.Id),
            Aggregators.Combine(Aggregators.Count<BenchEvent>(), Aggregators.Sum<BenchEvent>(e => e.PriceMicros)), Options);
        return Run(engine, _results);
    }

    /// <summary>Hopping 10 s every 2 s, count per key (five windows per event), the engine alone.</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public int HoppingCount()
    {
        var engine = new WindowedAggregation<BenchEvent, int, long, long>(
            new WindowedAggregationSpec<BenchEvent, int>(e => e.TimestampMs, e => e.Key, Windows.Hopping(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2))),
            Aggregators.Count<BenchEvent>(), Options);
        return Run(engine, _countResults);
    }

    /// <summary>Hopping 10 s every 2 s, count per key, then the top 10 keys of every window (Nexmark q5, "hot items").</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public int HoppingCountTopK()
    {
        var engine = new WindowedAggregation<BenchEvent, int, long, long>(
            new WindowedAggregationSpec<BenchEvent, int>(e => e.TimestampMs, e => e.Key, Windows.Hopping(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2))),
            Aggregators.Count<BenchEvent>(), Options);
        Run(engine, _countResults);
        // Finals leave a window's keys together (windows close in end order): cut at each new window.
        var hottest = 0;
        var top = new TopSelection<int>(10);
        var current = long.MinValue;
        foreach (var result in _countResults)
        {
            if (result.WindowStartMs != current && current != long.MinValue)
            {
                hottest += top.TakeLargestFirst()[0].Item;
            }

            current = result.WindowStartMs;
            top.Offer(result.Key, result.Value);
        }

        hottest += top.TakeLargestFirst()[0].Item;
        return hottest;
    }

    /// <summary>Session windows per key (5-second gap): sessions open, extend and merge as out-of-order events arrive.</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public int SessionCount()
    {
        var engine = new WindowedAggregation<BenchEvent, int, long, long>(
            new WindowedAggregationSpec<BenchEvent, int>(e => e.TimestampMs, e => e.Key, Windows.Session(TimeSpan.FromSeconds(5))),
            Aggregators.Count<BenchEvent>(), Options);
        return Run(engine, _countResults);
    }

    /// <summary>Naive Rx: one OnNext per event, GroupBy (key, minute), Aggregate count and sum per group.</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public int NaiveRxTumblingCountSum() => PushEachEvent(events => events
        .GroupBy(e => (e.Key, Start: e.TimestampMs - e.TimestampMs % 60_000))
        .SelectMany(g => g.Aggregate((Count: 0L, Sum: 0L), (a, e) => (a.Count + 1, a.Sum + e.PriceMicros)).Select(a => (g.Key, a))));

    /// <summary>Naive Rx hopping: each event fanned out to its 5 windows, GroupBy (key, window), Count per group.</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public int NaiveRxHoppingCount() => PushEachEvent(events => events
        .SelectMany(e => Enumerable.Range(0, 5).Select(i => (e.Key, Start: e.TimestampMs - e.TimestampMs % 2000 - i * 2000L)))
        .GroupBy(k => k)
        .SelectMany(g => g.Count().Select(c => (g.Key, c))));

    /// <summary>The dedup step alone: 128-bit ids into time buckets, evicted as the watermark moves.</summary>
    [Benchmark(OperationsPerInvoke = EventCount)]
    public long DedupOnly()
    {
        var dedup = new EventIdDeduplicator(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(30), 20_000_000);
        long kept = 0;
        var watermark = long.MinValue;
        foreach (ref readonly var e in _events.AsSpan())
        {
            kept += dedup.TryAdd(e.Id, e.TimestampMs) ? 1 : 0;
            if (e.TimestampMs - 2000 > watermark + 1000)
            {
                watermark = e.TimestampMs - 2000;
                dedup.Evict(watermark);
            }
        }

        return kept;
    }

    /// <summary>The naive way in: one OnNext per event through <paramref name="pipeline"/>; returns the results counted.</summary>
    private int PushEachEvent<TResult>(Func<IObservable<BenchEvent>, IObservable<TResult>> pipeline)
    {
        var results = 0;
        using var subject = new Subject<BenchEvent>();
        using var _ = pipeline(subject).Subscribe(_ => results++);
        foreach (var e in _events)
        {
            subject.OnNext(e);
        }

        subject.OnCompleted();
        return results;
    }

    private int Run<TAcc, TResult>(WindowedAggregation<BenchEvent, int, TAcc, TResult> engine, List<WindowResult<int, TResult>> results)
    {
        results.Clear();
        _late.Clear();
        foreach (var batch in _batches)
        {
            engine.Process(batch, BenchInput.Start, results, _late);
        }

        engine.Drain(results);
        return results.Count;
    }
}
