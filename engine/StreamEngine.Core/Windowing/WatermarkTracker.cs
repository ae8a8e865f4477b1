namespace StreamEngine.Core.Windowing;

/// <summary>
/// Event-time progress: per source partition the largest event time seen minus the watermark delay, combined as
/// the minimum over partitions that are not idle. Event time only: a partition's watermark moves with its own events
/// and nothing else. A partition becomes idle (stops holding the combined watermark back) only once the source has
/// said it is read to its end (<see cref="MarkEndReached"/>: the broker's high watermark reached) and no data has
/// followed for the idle timeout; a paused, lagging or unreachable partition never reports its end, so it is never
/// idle and its backlog is never judged late. When every partition is idle the combined watermark is the most
/// advanced partition's: it never runs on with the wall clock (FLINK-5479). The watermark never goes back.
/// </summary>
public sealed class WatermarkTracker
{
    private readonly long _delayMs;
    private readonly long _idleTimeoutMs;
    private readonly Dictionary<int, Partition> _partitions = [];

    /// <summary>Watermarks that trail the newest event by <paramref name="delay"/>; a partition idle for <paramref name="idleTimeout"/> stops holding them back.</summary>
    public WatermarkTracker(TimeSpan delay, TimeSpan idleTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(idleTimeout, TimeSpan.Zero);
        _delayMs = (long)delay.TotalMilliseconds;
        _idleTimeoutMs = (long)idleTimeout.TotalMilliseconds;
    }

    /// <summary>The combined watermark (epoch ms); <see cref="long.MinValue"/> until every active partition has seen an event.</summary>
    public long Current { get; private set; } = long.MinValue;

    /// <summary>How many partitions it tracks.</summary>
    public int PartitionCount => _partitions.Count;

    /// <summary>Partitions not idle at the last <see cref="Refresh"/>.</summary>
    public int ActivePartitionCount => _partitions.Values.Count(p => !p.Idle);

    /// <summary>
    /// A batch of data from <paramref name="partition"/> arrives: it is not at its end, and not idle. Returns the
    /// partition's state for <see cref="Observe(Partition, long)"/> in the batch's loop.
    /// </summary>
    public Partition Activate(int partition)
    {
        var state = Known(partition);
        state.EndReachedAtMs = null;
        if (state.Idle)
        {
            state.Idle = false;
            Recompute();
        }

        return state;
    }

    /// <summary>The source read <paramref name="partition"/> up to its end at processing time <paramref name="nowMs"/> (the idle timeout counts from the first such report).</summary>
    public void MarkEndReached(int partition, long nowMs) => Known(partition).EndReachedAtMs ??= nowMs;

    /// <summary>Records an event time on an active partition; returns true when the watermark moved.</summary>
    public bool Observe(int partition, long timestampMs) => Observe(_partitions[partition], timestampMs);

    /// <summary>Records an event time on a partition <see cref="Activate"/> returned; returns true when the watermark moved.</summary>
    public bool Observe(Partition state, long timestampMs)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (timestampMs <= state.MaxTimestampMs)
        {
            return false;
        }

        var before = state.WatermarkMs(_delayMs);
        state.MaxTimestampMs = timestampMs;
        // A partition whose watermark was above the combined one was not the minimum: nothing can move.
        return before <= Current && Recompute();
    }

    /// <summary>
    /// Re-evaluates idleness at processing time <paramref name="nowMs"/>: a partition read to its end with no data
    /// since for the idle timeout is idle. Returns true when the watermark moved.
    /// </summary>
    public bool Refresh(long nowMs)
    {
        foreach (var state in _partitions.Values)
        {
            state.Idle = state.EndReachedAtMs is { } reached && nowMs - reached >= _idleTimeoutMs;
        }

        return Recompute();
    }

    /// <summary>Forgets a partition (it left this process): it no longer holds the watermark back.</summary>
    public void Remove(int partition)
    {
        if (_partitions.Remove(partition))
        {
            Recompute();
        }
    }

    /// <summary>Moves the watermark to at least <paramref name="watermarkMs"/> (restore, end of input).</summary>
    public void AdvanceTo(long watermarkMs) => Current = Math.Max(Current, watermarkMs);

    internal IEnumerable<(int Partition, long MaxTimestampMs, long? EndReachedAtMs, bool Idle)> Partitions() =>
        _partitions.Select(p => (p.Key, p.Value.MaxTimestampMs, p.Value.EndReachedAtMs, p.Value.Idle));

    internal void RestorePartition(int partition, long maxTimestampMs, long? endReachedAtMs = null, bool idle = false) =>
        _partitions[partition] = new Partition { MaxTimestampMs = maxTimestampMs, EndReachedAtMs = endReachedAtMs, Idle = idle };

    private Partition Known(int partition)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            _partitions[partition] = state = new Partition();
        }

        return state;
    }

    private bool Recompute()
    {
        if (_partitions.Count == 0)
        {
            return false;
        }

        var active = long.MaxValue;
        var most = long.MinValue;
        foreach (var state in _partitions.Values)
        {
            var watermark = state.WatermarkMs(_delayMs);
            most = Math.Max(most, watermark);
            if (!state.Idle)
            {
                active = Math.Min(active, watermark);
            }
        }

        // Everything idle: every partition is read to its end, so the most advanced one's event time is as far as
        // any evidence goes.
        var candidate = active != long.MaxValue ? active : most;
        if (candidate > Current)
        {
            Current = candidate;
            return true;
        }

        return false;
    }

    /// <summary>One partition's progress.</summary>
    public sealed class Partition
    {
        internal Partition()
        {
        }

        /// <summary>The newest event time seen on the partition.</summary>
        public long MaxTimestampMs { get; internal set; } = long.MinValue;

        /// <summary>When the source first said the partition is read to its end since its last data; null while data flows.</summary>
        public long? EndReachedAtMs { get; internal set; }

        /// <summary>Whether the partition is idle (read to its end for the idle timeout).</summary>
        public bool Idle { get; internal set; }

        internal long WatermarkMs(long delayMs) => MaxTimestampMs == long.MinValue ? long.MinValue : MaxTimestampMs - delayMs;
    }
}
