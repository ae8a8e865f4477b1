namespace StreamEngine.Core.Sketches;

/// <summary>
/// The heaviest items of a stream (Space-Saving): at most <see cref="Capacity"/> counters; an item's count is
/// over-estimated by at most its <c>Error</c>, and every item with more than N / Capacity occurrences is kept.
/// Two summaries merge by adding counters and keeping the largest, as partials from partitions need.
/// </summary>
public sealed class TopK<TItem>
    where TItem : notnull
{
    private readonly Dictionary<TItem, (long Count, long Error)> _counters;

    /// <summary>A summary keeping at most <paramref name="capacity"/> counters.</summary>
    public TopK(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _counters = new Dictionary<TItem, (long, long)>(capacity + 1);
    }

    /// <summary>How many counters it keeps.</summary>
    public int Capacity { get; }

    /// <summary>Occurrences added (the N of the guarantee).</summary>
    public long Total { get; private set; }

    /// <summary>Counts <paramref name="count"/> more of <paramref name="item"/>.</summary>
    public void Add(TItem item, long count = 1)
    {
        Total += count;
        if (_counters.TryGetValue(item, out var counter))
        {
            _counters[item] = (counter.Count + count, counter.Error);
            return;
        }

        if (_counters.Count < Capacity)
        {
            _counters[item] = (count, 0);
            return;
        }

        // Replace the smallest counter; the newcomer inherits its count as error bound.
        var (minItem, min) = MinCounter();
        _counters.Remove(minItem);
        _counters[item] = (min.Count + count, min.Count);
    }

    /// <summary>Adds <paramref name="other"/>'s counters into these.</summary>
    public void Merge(TopK<TItem> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var ownMin = _counters.Count < Capacity ? 0 : MinCounter().Counter.Count;
        var otherMin = other._counters.Count < other.Capacity ? 0 : other.MinCounter().Counter.Count;
        var merged = new Dictionary<TItem, (long Count, long Error)>(_counters.Count + other._counters.Count);
        foreach (var (item, counter) in _counters)
        {
            merged[item] = other._counters.TryGetValue(item, out var theirs)
                ? (counter.Count + theirs.Count, counter.Error + theirs.Error)
                : (counter.Count + otherMin, counter.Error + otherMin);
        }

        foreach (var (item, theirs) in other._counters)
        {
            if (!merged.ContainsKey(item))
            {
                merged[item] = (theirs.Count + ownMin, theirs.Error + ownMin);
            }
        }

        _counters.Clear();
        foreach (var (item, counter) in merged.OrderByDescending(c => c.Value.Count).Take(Capacity))
        {
            _counters[item] = counter;
        }

        Total += other.Total;
    }

    /// <summary>The top <paramref name="k"/> items, heaviest first, with their (over-)estimated counts and error bounds.</summary>
    public IReadOnlyList<(TItem Item, long Count, long Error)> Top(int k) =>
        _counters.OrderByDescending(c => c.Value.Count).Take(k).Select(c => (c.Key, c.Value.Count, c.Value.Error)).ToList();

    /// <summary>Writes the counters into a snapshot, items with <paramref name="writeItem"/>.</summary>
    public void Write(BinaryWriter writer, Action<BinaryWriter, TItem> writeItem)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(writeItem);
        writer.Write(Capacity);
        writer.Write(Total);
        writer.Write(_counters.Count);
        foreach (var (item, counter) in _counters)
        {
            writeItem(writer, item);
            writer.Write(counter.Count);
            writer.Write(counter.Error);
        }
    }

    /// <summary>Replaces this summary's contents with what <see cref="Write"/> wrote.</summary>
    public void ReadFrom(BinaryReader reader, Func<BinaryReader, TItem> readItem)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(readItem);
        if (reader.ReadInt32() != Capacity)
        {
            throw new InvalidDataException("the stored top-K summary has another capacity");
        }

        Total = reader.ReadInt64();
        _counters.Clear();
        var count = reader.ReadInt32();
        for (var i = 0; i < count; i++)
        {
            var item = readItem(reader);
            _counters[item] = (reader.ReadInt64(), reader.ReadInt64());
        }
    }

    private (TItem Item, (long Count, long Error) Counter) MinCounter()
    {
        var first = true;
        (TItem Item, (long Count, long Error) Counter) min = default;
        foreach (var (item, counter) in _counters)
        {
            if (first || counter.Count < min.Counter.Count)
            {
                min = (item, counter);
                first = false;
            }
        }

        return min;
    }
}
