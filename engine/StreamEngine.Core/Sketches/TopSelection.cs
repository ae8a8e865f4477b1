namespace StreamEngine.Core.Sketches;

/// <summary>
/// Exact top-k of items whose counts are already known (a window's per-key results): a min-heap of k entries,
/// O(n log k), instead of a streaming summary.
/// </summary>
public sealed class TopSelection<TItem>
{
    private readonly PriorityQueue<TItem, long> _heap;

    /// <summary>Keeps the <paramref name="k"/> items with the greatest weights.</summary>
    public TopSelection(int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        K = k;
        _heap = new PriorityQueue<TItem, long>(k + 1);
    }

    /// <summary>How many items it keeps.</summary>
    public int K { get; }

    /// <summary>Offers an item with its weight; kept if among the greatest so far.</summary>
    public void Offer(TItem item, long count)
    {
        if (_heap.Count < K)
        {
            _heap.Enqueue(item, count);
        }
        else if (_heap.TryPeek(out _, out var smallest) && count > smallest)
        {
            _heap.DequeueEnqueue(item, count);
        }
    }

    /// <summary>The selected items, largest count first; the selection starts empty again.</summary>
    public List<(TItem Item, long Count)> TakeLargestFirst()
    {
        var items = new List<(TItem, long)>(_heap.Count);
        while (_heap.TryDequeue(out var item, out var count))
        {
            items.Add((item, count));
        }

        items.Reverse();
        return items;
    }
}
