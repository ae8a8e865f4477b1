using StreamEngine.Core.Sketches;

namespace StreamEngine.Core.Aggregation;

/// <summary>Mean as its mergeable parts.</summary>
public record struct MeanAccumulator(double Sum, long Count)
{
    /// <summary>The mean so far (NaN before any value).</summary>
    public readonly double Value => Count == 0 ? double.NaN : Sum / Count;
}

/// <summary>A ratio as its mergeable parts (e.g. clicks over impressions).</summary>
public record struct RatioAccumulator(long Numerator, long Denominator)
{
    /// <summary>The ratio so far (0 when the denominator is 0).</summary>
    public readonly double Value => Denominator == 0 ? 0 : (double)Numerator / Denominator;
}

/// <summary>A minimum or maximum that knows whether it has seen anything.</summary>
public record struct ExtremeAccumulator(long Value, bool HasValue);

/// <summary>The building blocks: each an incremental, mergeable <see cref="IAggregator{TEvent,TAccumulator,TResult}"/>.</summary>
public static class Aggregators
{
    /// <summary>Counts the window's events.</summary>
    public static IAggregator<TEvent, long, long> Count<TEvent>() => new CountAggregator<TEvent>();

    /// <summary>Adds up <paramref name="value"/> over the window's events.</summary>
    public static IAggregator<TEvent, long, long> Sum<TEvent>(Func<TEvent, long> value) => new SumAggregator<TEvent>(value);

    /// <summary>The least <paramref name="value"/> of the window's events.</summary>
    public static IAggregator<TEvent, ExtremeAccumulator, long?> Min<TEvent>(Func<TEvent, long> value) => new ExtremeAggregator<TEvent>(value, takeMax: false);

    /// <summary>The greatest <paramref name="value"/> of the window's events.</summary>
    public static IAggregator<TEvent, ExtremeAccumulator, long?> Max<TEvent>(Func<TEvent, long> value) => new ExtremeAggregator<TEvent>(value, takeMax: true);

    /// <summary>The mean of <paramref name="value"/> over the window's events.</summary>
    public static IAggregator<TEvent, MeanAccumulator, double> Mean<TEvent>(Func<TEvent, double> value) => new MeanAggregator<TEvent>(value);

    /// <summary>Events matching <paramref name="numerator"/> over events matching <paramref name="denominator"/>.</summary>
    public static IAggregator<TEvent, RatioAccumulator, double> Ratio<TEvent>(Func<TEvent, bool> numerator, Func<TEvent, bool> denominator) =>
        new RatioAggregator<TEvent>(numerator, denominator);

    /// <summary>Approximate distinct count of the values whose 64-bit hashes <paramref name="hash"/> gives (HyperLogLog).</summary>
    public static IAggregator<TEvent, HyperLogLog, long> DistinctCount<TEvent>(Func<TEvent, ulong> hash) => new DistinctAggregator<TEvent>(hash);

    /// <summary>Quantiles of a non-negative value within <paramref name="relativeAccuracy"/>; the result is a copy of the sketch.</summary>
    public static IAggregator<TEvent, QuantileSketch, QuantileSketch> Quantiles<TEvent>(Func<TEvent, double> value, double relativeAccuracy = 0.01) =>
        new QuantileAggregator<TEvent>(value, relativeAccuracy);

    /// <summary>The <paramref name="k"/> most frequent items (Space-Saving with <paramref name="capacity"/> counters).</summary>
    public static IAggregator<TEvent, TopK<TItem>, IReadOnlyList<(TItem Item, long Count, long Error)>> TopK<TEvent, TItem>(
        Func<TEvent, TItem> item, int k, int capacity, Action<BinaryWriter, TItem> writeItem, Func<BinaryReader, TItem> readItem)
        where TItem : notnull =>
        new TopKAggregator<TEvent, TItem>(item, k, Math.Max(k, capacity), writeItem, readItem);

    /// <summary>Two aggregations over the same events at once.</summary>
    public static IAggregator<TEvent, (TAccA, TAccB), (TResA, TResB)> Combine<TEvent, TAccA, TResA, TAccB, TResB>(
        IAggregator<TEvent, TAccA, TResA> first, IAggregator<TEvent, TAccB, TResB> second) =>
        new CombinedAggregator<TEvent, TAccA, TResA, TAccB, TResB>(first, second);

    private sealed class CountAggregator<TEvent> : IAggregator<TEvent, long, long>
    {
        public long Create() => 0;

        public void Add(ref long accumulator, in TEvent item) => accumulator++;

        public void Merge(ref long into, long other) => into += other;

        public long Result(long accumulator) => accumulator;

        public void Write(BinaryWriter writer, long accumulator) => writer.Write(accumulator);

        public long Read(BinaryReader reader) => reader.ReadInt64();
    }

    private sealed class SumAggregator<TEvent>(Func<TEvent, long> value) : IAggregator<TEvent, long, long>
    {
        public long Create() => 0;

        public void Add(ref long accumulator, in TEvent item) => accumulator = checked(accumulator + value(item));

        public void Merge(ref long into, long other) => into = checked(into + other);

        public long Result(long accumulator) => accumulator;

        public void Write(BinaryWriter writer, long accumulator) => writer.Write(accumulator);

        public long Read(BinaryReader reader) => reader.ReadInt64();
    }

    private sealed class ExtremeAggregator<TEvent>(Func<TEvent, long> value, bool takeMax) : IAggregator<TEvent, ExtremeAccumulator, long?>
    {
        public ExtremeAccumulator Create() => default;

        public void Add(ref ExtremeAccumulator accumulator, in TEvent item) => Merge(ref accumulator, new ExtremeAccumulator(value(item), true));

        public void Merge(ref ExtremeAccumulator into, ExtremeAccumulator other)
        {
            if (other.HasValue && (!into.HasValue || (takeMax ? other.Value > into.Value : other.Value < into.Value)))
            {
                into = other;
            }
        }

        public long? Result(ExtremeAccumulator accumulator) => accumulator.HasValue ? accumulator.Value : null;

        public void Write(BinaryWriter writer, ExtremeAccumulator accumulator)
        {
            writer.Write(accumulator.HasValue);
            writer.Write(accumulator.Value);
        }

        public ExtremeAccumulator Read(BinaryReader reader)
        {
            var has = reader.ReadBoolean();
            return new ExtremeAccumulator(reader.ReadInt64(), has);
        }
    }

    private sealed class MeanAggregator<TEvent>(Func<TEvent, double> value) : IAggregator<TEvent, MeanAccumulator, double>
    {
        public MeanAccumulator Create() => default;

        public void Add(ref MeanAccumulator accumulator, in TEvent item)
        {
            accumulator.Sum += value(item);
            accumulator.Count++;
        }

        public void Merge(ref MeanAccumulator into, MeanAccumulator other) => into = new MeanAccumulator(into.Sum + other.Sum, into.Count + other.Count);

        public double Result(MeanAccumulator accumulator) => accumulator.Value;

        public void Write(BinaryWriter writer, MeanAccumulator accumulator)
        {
            writer.Write(accumulator.Sum);
            writer.Write(accumulator.Count);
        }

        public MeanAccumulator Read(BinaryReader reader) => new(reader.ReadDouble(), reader.ReadInt64());
    }

    private sealed class RatioAggregator<TEvent>(Func<TEvent, bool> numerator, Func<TEvent, bool> denominator) : IAggregator<TEvent, RatioAccumulator, double>
    {
        public RatioAccumulator Create() => default;

        public void Add(ref RatioAccumulator accumulator, in TEvent item)
        {
            accumulator.Numerator += numerator(item) ? 1 : 0;
            accumulator.Denominator += denominator(item) ? 1 : 0;
        }

        public void Merge(ref RatioAccumulator into, RatioAccumulator other) =>
            into = new RatioAccumulator(into.Numerator + other.Numerator, into.Denominator + other.Denominator);

        public double Result(RatioAccumulator accumulator) => accumulator.Value;

        public void Write(BinaryWriter writer, RatioAccumulator accumulator)
        {
            writer.Write(accumulator.Numerator);
            writer.Write(accumulator.Denominator);
        }

        public RatioAccumulator Read(BinaryReader reader) => new(reader.ReadInt64(), reader.ReadInt64());
    }

    private sealed class DistinctAggregator<TEvent>(Func<TEvent, ulong> hash) : IAggregator<TEvent, HyperLogLog, long>
    {
        public HyperLogLog Create() => new();

        public void Add(ref HyperLogLog accumulator, in TEvent item) => accumulator.Add(hash(item));

        public void Merge(ref HyperLogLog into, HyperLogLog other) => into.Merge(other);

        public long Result(HyperLogLog accumulator) => accumulator.Estimate();

        public void Write(BinaryWriter writer, HyperLogLog accumulator) => accumulator.Write(writer);

        public HyperLogLog Read(BinaryReader reader) => HyperLogLog.Read(reader);
    }

    private sealed class QuantileAggregator<TEvent>(Func<TEvent, double> value, double accuracy) : IAggregator<TEvent, QuantileSketch, QuantileSketch>
    {
        public QuantileSketch Create() => new(accuracy);

        public void Add(ref QuantileSketch accumulator, in TEvent item) => accumulator.Add(value(item));

        public void Merge(ref QuantileSketch into, QuantileSketch other) => into.Merge(other);

        public QuantileSketch Result(QuantileSketch accumulator)
        {
            var copy = new QuantileSketch(accuracy);
            copy.Merge(accumulator);
            return copy;
        }

        public void Write(BinaryWriter writer, QuantileSketch accumulator) => accumulator.Write(writer);

        public QuantileSketch Read(BinaryReader reader) => QuantileSketch.Read(reader);
    }

    private sealed class TopKAggregator<TEvent, TItem>(
        Func<TEvent, TItem> item, int k, int capacity, Action<BinaryWriter, TItem> writeItem, Func<BinaryReader, TItem> readItem)
        : IAggregator<TEvent, TopK<TItem>, IReadOnlyList<(TItem Item, long Count, long Error)>>
        where TItem : notnull
    {
        public TopK<TItem> Create() => new(capacity);

        public void Add(ref TopK<TItem> accumulator, in TEvent value) => accumulator.Add(item(value));

        public void Merge(ref TopK<TItem> into, TopK<TItem> other) => into.Merge(other);

        public IReadOnlyList<(TItem Item, long Count, long Error)> Result(TopK<TItem> accumulator) => accumulator.Top(k);

        public void Write(BinaryWriter writer, TopK<TItem> accumulator) => accumulator.Write(writer, writeItem);

        public TopK<TItem> Read(BinaryReader reader)
        {
            var topK = new TopK<TItem>(capacity);
            topK.ReadFrom(reader, readItem);
            return topK;
        }
    }

    private sealed class CombinedAggregator<TEvent, TAccA, TResA, TAccB, TResB>(
        IAggregator<TEvent, TAccA, TResA> first, IAggregator<TEvent, TAccB, TResB> second)
        : IAggregator<TEvent, (TAccA, TAccB), (TResA, TResB)>
    {
        public (TAccA, TAccB) Create() => (first.Create(), second.Create());

        public void Add(ref (TAccA, TAccB) accumulator, in TEvent item)
        {
            first.Add(ref accumulator.Item1, item);
            second.Add(ref accumulator.Item2, item);
        }

        public void Merge(ref (TAccA, TAccB) into, (TAccA, TAccB) other)
        {
            first.Merge(ref into.Item1, other.Item1);
            second.Merge(ref into.Item2, other.Item2);
        }

        public (TResA, TResB) Result((TAccA, TAccB) accumulator) => (first.Result(accumulator.Item1), second.Result(accumulator.Item2));

        public void Write(BinaryWriter writer, (TAccA, TAccB) accumulator)
        {
            first.Write(writer, accumulator.Item1);
            second.Write(writer, accumulator.Item2);
        }

        public (TAccA, TAccB) Read(BinaryReader reader) => (first.Read(reader), second.Read(reader));
    }
}
