using BenchmarkDotNet.Attributes;
using StreamEngine.Core.Sketches;

namespace StreamEngine.Benchmarks;

/// <summary>
/// Per-item cost of the core's sketches beside the exact structures a naive pipeline would keep: distinct users
/// (HyperLogLog against a HashSet), price quantiles (the relative-error sketch against a sorted list) and the hottest
/// keys (TopK against a dictionary of counts sorted at the end). Each operation is one item of 1,000,000.
/// </summary>
[MemoryDiagnoser]
public class SketchBenchmarks
{
    private const int Items = 1_000_000;
    private BenchEvent[] _events = [];

    [GlobalSetup]
    public void Setup() => _events = BenchInput.Events(Items, keys: 10_000);

    [Benchmark(OperationsPerInvoke = Items)]
    public long HyperLogLogDistinct()
    {
        var sketch = new HyperLogLog();
        foreach (ref readonly var e in _events.AsSpan())
        {
            sketch.Add(Hashing.Mix((ulong)e.Key * 31 + (ulong)(e.PriceMicros & 0xFF)));
        }

        return sketch.Estimate();
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public long ExactDistinctHashSet()
    {
        var seen = new HashSet<ulong>();
        foreach (ref readonly var e in _events.AsSpan())
        {
            seen.Add((ulong)e.Key * 31 + (ulong)(e.PriceMicros & 0xFF));
        }

        return seen.Count;
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public double QuantileSketchP99()
    {
        var sketch = new QuantileSketch();
        foreach (ref readonly var e in _events.AsSpan())
        {
            sketch.Add(e.PriceMicros);
        }

        return sketch.Quantile(0.99);
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public double ExactQuantileSortedList()
    {
        var values = new List<double>();
        foreach (ref readonly var e in _events.AsSpan())
        {
            values.Add(e.PriceMicros);
        }

        values.Sort();
        return values[(int)(0.99 * (values.Count - 1))];
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public int TopKHottestKeys()
    {
        var top = new TopK<int>(100);
        foreach (ref readonly var e in _events.AsSpan())
        {
            top.Add(e.Key);
        }

        return top.Top(10)[0].Item;
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public int ExactTopKDictionary()
    {
        var counts = new Dictionary<int, long>();
        foreach (ref readonly var e in _events.AsSpan())
        {
            counts[e.Key] = counts.GetValueOrDefault(e.Key) + 1;
        }

        return counts.OrderByDescending(c => c.Value).Take(10).First().Key;
    }
}
