namespace StreamEngine.Core.Windowing;

/// <summary>
/// Items waiting for the watermark to reach their end time: one list per distinct end (tumbling and hopping
/// windows share a handful of ends) and a heap of the ends, so adding is O(1) and taking everything due is
/// O(due). An item whose end changes is simply added again; its stale entry is recognised by generation and
/// skipped, which keeps sessions (whose ends move) on the same structure.
/// </summary>
internal sealed class EndTimeQueue<T>
    where T : class
{
    private readonly Dictionary<long, List<(T Item, int Generation)>> _byEnd = [];
    private readonly PriorityQueue<long, long> _ends = new();
    private readonly Stack<List<(T, int)>> _spareLists = new();

    public int Count { get; private set; }

    public void Add(T item, int generation, long end)
    {
        if (!_byEnd.TryGetValue(end, out var list))
        {
            list = _spareLists.Count > 0 ? _spareLists.Pop() : [];
            _byEnd[end] = list;
            _ends.Enqueue(end, end);
        }

        list.Add((item, generation));
        Count++;
    }

    /// <summary>The earliest end with entries, or <see cref="long.MaxValue"/>.</summary>
    public long EarliestEnd => _ends.TryPeek(out var end, out _) ? end : long.MaxValue;

    /// <summary>Removes and hands over every entry whose end is at or before <paramref name="limit"/>, earliest end first.</summary>
    public void TakeDue(long limit, Action<T, int, long> take)
    {
        while (_ends.TryPeek(out var end, out _) && end <= limit)
        {
            _ends.Dequeue();
            var list = _byEnd[end];
            _byEnd.Remove(end);
            Count -= list.Count;
            foreach (var (item, generation) in list)
            {
                take(item, generation, end);
            }

            list.Clear();
            _spareLists.Push(list);
        }
    }

    public void Clear()
    {
        _byEnd.Clear();
        _ends.Clear();
        Count = 0;
    }
}
