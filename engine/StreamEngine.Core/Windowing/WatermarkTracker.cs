namespace StreamEngine.Core.Windowing;

/// <summary>
/// Event-time progress: per source partition the largest event time seen minus the watermark delay, combined as
/// the minimum over partitions that are not idle. A partition with no events for longer than the idle timeout
/// (processing time) stops holding the watermark back; when every partition is idle the watermark moves on with
/// processing time from the most advanced partition, so the last windows close even when traffic stops.
/// The watermark never goes back.
/// </summary>
public sealed class WatermarkTracker
{
    private readonly long _delayMs;
    private readonly long _idleTimeoutMs;
    private readonly Dictionary<int, Partition> _partitions = [];
    private long _lastActivityMs = long.MinValue;

    public WatermarkTracker(TimeSpan delay, TimeSpan idleTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(idleTimeout, TimeSpan.Zero);
        _delayMs = (long)delay.TotalMilliseconds;
        _idleTimeoutMs = (long)idleTimeout.TotalMilliseconds;
    }

    /// <summary>The combined watermark (epoch ms); <see cref="long.MinValue"/> until every active partition has seen an event.</summary>
    public long Current { get; private set; } = long.MinValue;

    public int PartitionCount => _partitions.Count;

    /// <summary>Partitions not idle at the last <see cref="Refresh"/>.</summary>
    public int ActivePartitionCount => _partitions.Values.Count(p => !p.Idle);

    /// <summary>
    /// A batch from <paramref name="partition"/> arrives at processing time <paramref name="nowMs"/>: it is active
    /// again. Returns the partition's state for <see cref="Observe(Partition, long)"/> in the batch's loop.
    /// </summary>
    public Partition Activate(int partition, long nowMs)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            _partitions[partition] = state = new Partition();
        }

        state.LastActivityMs = nowMs;
        _lastActivityMs = Math.Max(_lastActivityMs, nowMs);
        if (state.Idle)
        {
            state.Idle = false;
            Recompute(nowMs);
        }

        return state;
    }

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
        return before <= Current && Recompute(_lastActivityMs);
    }

    /// <summary>Re-evaluates idleness at processing time <paramref name="nowMs"/>; returns true when the watermark moved.</summary>
    public bool Refresh(long nowMs)
    {
        foreach (var state in _partitions.Values)
        {
            state.Idle = nowMs - state.LastActivityMs > _idleTimeoutMs;
        }

        return Recompute(nowMs);
    }

    /// <summary>Forgets a partition (revoked from this process): it no longer holds the watermark back.</summary>
    public void Remove(int partition, long nowMs)
    {
        if (_partitions.Remove(partition))
        {
            Recompute(nowMs);
        }
    }

    /// <summary>Moves the watermark to at least <paramref name="watermarkMs"/> (restore, end of input).</summary>
    public void AdvanceTo(long watermarkMs) => Current = Math.Max(Current, watermarkMs);

    internal IEnumerable<(int Partition, long MaxTimestampMs)> Partitions() => _partitions.Select(p => (p.Key, p.Value.MaxTimestampMs));

    internal void RestorePartition(int partition, long maxTimestampMs, long nowMs)
    {
        _partitions[partition] = new Partition { MaxTimestampMs = maxTimestampMs, LastActivityMs = nowMs };
        _lastActivityMs = Math.Max(_lastActivityMs, nowMs);
    }

    private long CombinedOfActive()
    {
        var min = long.MaxValue;
        foreach (var state in _partitions.Values)
        {
            if (!state.Idle)
            {
                min = Math.Min(min, state.WatermarkMs(_delayMs));
            }
        }

        return min;
    }

    private bool Recompute(long nowMs)
    {
        long candidate;
        var active = CombinedOfActive();
        if (active != long.MaxValue)
        {
            candidate = active;
        }
        else if (_partitions.Count > 0)
        {
            // Everything is idle: event time follows processing time from the most advanced partition.
            var most = _partitions.Values.Max(p => p.WatermarkMs(_delayMs));
            candidate = most == long.MinValue ? long.MinValue : most + Math.Max(0, nowMs - _lastActivityMs - _idleTimeoutMs);
        }
        else
        {
            return false;
        }

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

        public long MaxTimestampMs { get; internal set; } = long.MinValue;

        public long LastActivityMs { get; internal set; }

        public bool Idle { get; internal set; }

        internal long WatermarkMs(long delayMs) => MaxTimestampMs == long.MinValue ? long.MinValue : MaxTimestampMs - delayMs;
    }
}
