namespace StreamEngine.Core.Sketches;

/// <summary>
/// Mergeable quantiles with a relative-error guarantee (a log-bucket histogram, as in DDSketch): every non-negative
/// value lands in bucket ceil(log_gamma(v)), gamma = (1 + a) / (1 - a), and a quantile is reported as its bucket's
/// midpoint, within relative error a (1% by default) of the true value of that rank. Buckets are plain counts, so
/// partials merge by adding them, here or in ClickHouse (as a Map of bucket to count).
/// </summary>
public sealed class QuantileSketch
{
    private readonly double _gamma;
    private readonly double _logGamma;
    private long[] _counts = new long[64];
    private int _offset; // bucket index of _counts[0]
    private int _low = int.MaxValue;
    private int _high = int.MinValue;

    /// <summary>A sketch whose quantiles are within <paramref name="relativeAccuracy"/> of the true values.</summary>
    public QuantileSketch(double relativeAccuracy = 0.01)
    {
        if (relativeAccuracy is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(relativeAccuracy), relativeAccuracy, "the relative accuracy must lie strictly between 0 and 1");
        }

        RelativeAccuracy = relativeAccuracy;
        _gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
        _logGamma = Math.Log(_gamma);
    }

    /// <summary>The relative accuracy of its quantiles (0.01: within 1%).</summary>
    public double RelativeAccuracy { get; }

    /// <summary>Values counted (zeros included).</summary>
    public long Count { get; private set; }

    /// <summary>Zeros (they have no logarithm) are counted apart.</summary>
    public long ZeroCount { get; private set; }

    /// <summary>Adds a non-negative value (negative values are a caller error).</summary>
    public void Add(double value, long count = 1)
    {
        if (value < 0 || double.IsNaN(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "quantile sketch values must be non-negative");
        }

        Count += count;
        if (value == 0)
        {
            ZeroCount += count;
            return;
        }

        AddToBucket(BucketOf(value), count);
    }

    /// <summary>The bucket a positive value falls into: ceil(log_gamma(value)).</summary>
    public int BucketOf(double value) => (int)Math.Ceiling(Math.Log(value) / _logGamma);

    /// <summary>The value a bucket stands for (within the relative accuracy of everything in it).</summary>
    public double ValueOf(int bucket) => 2 * Math.Pow(_gamma, bucket) / (_gamma + 1);

    /// <summary>The value at quantile <paramref name="q"/> (0..1), or NaN when empty.</summary>
    public double Quantile(double q)
    {
        if (q is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "a quantile lies between 0 and 1");
        }

        if (Count == 0)
        {
            return double.NaN;
        }

        // Rank of the q-quantile among Count values (0-based), as ClickHouse's quantileExact takes it.
        var rank = (long)Math.Floor(q * (Count - 1));
        if (rank < ZeroCount)
        {
            return 0;
        }

        var seen = ZeroCount;
        for (var bucket = _low; bucket <= _high; bucket++)
        {
            seen += _counts[bucket - _offset];
            if (seen > rank)
            {
                return ValueOf(bucket);
            }
        }

        return ValueOf(_high);
    }

    /// <summary>Non-empty buckets with their counts, lowest first (for export to ClickHouse).</summary>
    public IEnumerable<(int Bucket, long Count)> Buckets()
    {
        for (var bucket = _low; bucket <= _high; bucket++)
        {
            var count = _counts[bucket - _offset];
            if (count != 0)
            {
                yield return (bucket, count);
            }
        }
    }

    /// <summary>Adds <paramref name="other"/>'s buckets into these (same accuracy): the sketch of both inputs.</summary>
    public void Merge(QuantileSketch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.RelativeAccuracy != RelativeAccuracy)
        {
            throw new ArgumentException("only sketches with the same relative accuracy merge", nameof(other));
        }

        Count += other.Count;
        ZeroCount += other.ZeroCount;
        foreach (var (bucket, count) in other.Buckets())
        {
            AddToBucket(bucket, count);
        }
    }

    /// <summary>Writes the buckets into a snapshot.</summary>
    public void Write(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(RelativeAccuracy);
        writer.Write(ZeroCount);
        var buckets = Buckets().ToList();
        writer.Write(buckets.Count);
        foreach (var (bucket, count) in buckets)
        {
            writer.Write(bucket);
            writer.Write(count);
        }
    }

    /// <summary>Reads a sketch written by <see cref="Write"/>.</summary>
    public static QuantileSketch Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var sketch = new QuantileSketch(reader.ReadDouble());
        var zeros = reader.ReadInt64();
        sketch.ZeroCount = zeros;
        sketch.Count = zeros;
        var buckets = reader.ReadInt32();
        for (var i = 0; i < buckets; i++)
        {
            var bucket = reader.ReadInt32();
            var count = reader.ReadInt64();
            sketch.AddToBucket(bucket, count);
            sketch.Count += count;
        }

        return sketch;
    }

    /// <summary>
    /// Writes the buckets in fewer bytes than <see cref="Write"/> (counts as varints, each bucket as its distance from
    /// the one before): a sketch of a few values takes a few dozen bytes, not 12 per bucket. <see cref="ReadCompact"/> reads it.
    /// </summary>
    public void WriteCompact(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(RelativeAccuracy);
        writer.Write7BitEncodedInt64(ZeroCount);
        writer.Write7BitEncodedInt(Buckets().Count());
        var previous = 0;
        foreach (var (bucket, count) in Buckets())
        {
            var step = bucket - previous;
            writer.Write7BitEncodedInt((step << 1) ^ (step >> 31)); // zigzag: small steps of either sign in one byte
            writer.Write7BitEncodedInt64(count);
            previous = bucket;
        }
    }

    /// <summary>Reads a sketch written by <see cref="WriteCompact"/>.</summary>
    public static QuantileSketch ReadCompact(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var sketch = new QuantileSketch(reader.ReadDouble());
        var zeros = reader.Read7BitEncodedInt64();
        sketch.ZeroCount = zeros;
        sketch.Count = zeros;
        var buckets = reader.Read7BitEncodedInt();
        var bucket = 0;
        for (var i = 0; i < buckets; i++)
        {
            var zigzag = reader.Read7BitEncodedInt();
            bucket += (int)((uint)zigzag >> 1) ^ -(zigzag & 1);
            var count = reader.Read7BitEncodedInt64();
            sketch.AddToBucket(bucket, count);
            sketch.Count += count;
        }

        return sketch;
    }

    private void AddToBucket(int bucket, long count)
    {
        if (_low > _high)
        {
            _offset = bucket - _counts.Length / 2;
        }
        else if (bucket < _offset || bucket >= _offset + _counts.Length)
        {
            Grow(bucket);
        }

        _counts[bucket - _offset] += count;
        _low = Math.Min(_low, bucket);
        _high = Math.Max(_high, bucket);
    }

    private void Grow(int bucket)
    {
        var low = Math.Min(_low, bucket);
        var high = Math.Max(_high, bucket);
        var size = _counts.Length;
        while (size < high - low + 1 + 16)
        {
            size *= 2;
        }

        var counts = new long[size];
        var offset = low - (size - (high - low + 1)) / 2;
        Array.Copy(_counts, _low - _offset, counts, _low - offset, _high - _low + 1);
        _counts = counts;
        _offset = offset;
    }
}
