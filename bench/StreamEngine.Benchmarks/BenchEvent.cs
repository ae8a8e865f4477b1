using StreamEngine.Core.Events;
using StreamEngine.Core.Sketches;

namespace StreamEngine.Benchmarks;

/// <summary>An ad-like event already decoded: interned key, event time, a price.</summary>
public readonly record struct BenchEvent(UInt128 Id, int Key, long TimestampMs, long PriceMicros);

/// <summary>Deterministic input: keys skewed (Zipf-like), event time advancing 0.6 ms per event (a million events span ten minutes) with up to 2 s of disorder.</summary>
public static class BenchInput
{
    public const long Start = 1_790_000_000_000;

    public static BenchEvent[] Events(int count, int keys, int seed = 1)
    {
        var random = new Random(seed);
        var events = new BenchEvent[count];
        for (var i = 0; i < count; i++)
        {
            var key = (int)Math.Min(keys - 1, Math.Floor(Math.Pow(keys, random.NextDouble())) - 1);
            var ts = Start + i * 3L / 5 - random.Next(0, 2000);
            events[i] = new BenchEvent(new UInt128((ulong)i, Hashing.Mix((ulong)i)), key, ts, 100 + random.Next(0, 5000));
        }

        return events;
    }

    /// <summary>Poll-sized batches over the events (no copies).</summary>
    public static EventBatch<BenchEvent>[] Batches(BenchEvent[] events, int batchSize)
    {
        var batches = new EventBatch<BenchEvent>[(events.Length + batchSize - 1) / batchSize];
        for (var b = 0; b < batches.Length; b++)
        {
            var start = b * batchSize;
            batches[b] = new EventBatch<BenchEvent>(0, events.AsMemory(start, Math.Min(batchSize, events.Length - start)));
        }

        return batches;
    }
}
