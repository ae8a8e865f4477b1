using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Benchmarks;

/// <summary>Retained heap per remembered event id and per open window, measured with full collections before and after.</summary>
public static class StateMemory
{
    public static void Print()
    {
        const int ids = 2_000_000;
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var dedup = new EventIdDeduplicator(TimeSpan.FromHours(1), int.MaxValue);
        for (var i = 0; i < ids; i++)
        {
            dedup.TryAdd(new UInt128((ulong)i, (ulong)i * 31), BenchInput.Start + i);
        }

        var dedupBytes = GC.GetTotalMemory(forceFullCollection: true) - before;
        Console.WriteLine(FormattableString.Invariant($"dedup: {dedupBytes / (double)ids:F1} bytes per remembered id ({ids:N0} ids, {dedupBytes / 1048576.0:F0} MiB); ApproximateBytes says {dedup.ApproximateBytes / (double)ids:F0}"));
        GC.KeepAlive(dedup);

        const int keys = 200_000;
        var engine = new WindowedAggregation<BenchEvent, int, (long, long), (long, long)>(
            new WindowedAggregationSpec<BenchEvent, int>(e => e.TimestampMs, e => e.Key, Windows.Tumbling(TimeSpan.FromMinutes(1))),
            Aggregators.Combine(Aggregators.Count<BenchEvent>(), Aggregators.Sum<BenchEvent>(e => e.PriceMicros)));
        var events = Enumerable.Range(0, keys).Select(k => new BenchEvent(0, k, BenchInput.Start, 1)).ToArray();
        before = GC.GetTotalMemory(forceFullCollection: true);
        engine.Process(new StreamEngine.Core.Events.EventBatch<BenchEvent>(0, events), BenchInput.Start, [], []);
        var windowBytes = GC.GetTotalMemory(forceFullCollection: true) - before;
        Console.WriteLine(FormattableString.Invariant($"tumbling count+sum: {windowBytes / (double)keys:F1} bytes per open window ({engine.Counters.OpenWindows:N0} windows)"));
        GC.KeepAlive(engine);
        GC.KeepAlive(events);

        // Output volume of the hopping benchmark's input: how many window results each event leads to.
        var input = BenchInput.Events(1_000_000, keys: 10_000);
        var hopping = new WindowedAggregation<BenchEvent, int, long, long>(
            new WindowedAggregationSpec<BenchEvent, int>(e => e.TimestampMs, e => e.Key, Windows.Hopping(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2))),
            Aggregators.Count<BenchEvent>(), new WindowOptions { WatermarkDelay = TimeSpan.FromSeconds(2), AllowedLateness = TimeSpan.FromSeconds(30), EmitInterval = TimeSpan.Zero });
        var results = new List<WindowResult<int, long>>();
        foreach (var batch in BenchInput.Batches(input, 10_000))
        {
            hopping.Process(batch, BenchInput.Start, results, []);
        }

        hopping.Drain(results);
        Console.WriteLine(FormattableString.Invariant($"hopping 10 s / 2 s over the benchmark input: {results.Count / 1e6:F2} window results per event ({results.Count:N0} for 1,000,000 events)"));
    }
}
