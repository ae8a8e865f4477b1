using StreamEngine.Core.State;

namespace StreamEngine.Core.Dsl;

/// <summary>One source partition's share of a checkpoint: its state and the offset that state covers.</summary>
/// <param name="Partition">The source partition.</param>
/// <param name="NextOffset">The offset after the last batch the state includes (where the partition resumes).</param>
/// <param name="State">The partition's operator snapshot (windows, watermark, dedup ids, counters).</param>
/// <param name="Revision">Which change of the running aggregation this is; <see cref="CheckpointHandle.Confirm"/> takes it back.</param>
public sealed record PartitionCheckpoint(int Partition, long NextOffset, byte[] State, long Revision)
{
    /// <summary>The newest event time the state includes (epoch ms; <see cref="long.MinValue"/> when none): what the results are fresh up to.</summary>
    public long NewestEventTimeMs { get; init; } = long.MinValue;

    /// <summary>The partition's watermark (epoch ms; <see cref="long.MinValue"/> when none): how far its windows are final, for downstream jobs.</summary>
    public long WatermarkMs { get; init; } = long.MinValue;

    /// <summary>The assignment of the partition that computed this state: the store lets the newest generation win over a further offset (fencing).</summary>
    public long Generation { get; init; }

    /// <summary>
    /// The size of the whole state in bytes, the segments <see cref="State"/> refers to by hash included
    /// (<see cref="State.StateSegments"/>): what the partition keeps, not what this checkpoint writes.
    /// </summary>
    public long StateBytes { get; init; } = State?.Length ?? 0;
}

/// <summary>A consistent cut of a running aggregation: the partitions that changed since the last confirmed cut.</summary>
public sealed record Checkpoint(IReadOnlyList<PartitionCheckpoint> Partitions)
{
    /// <summary>Whether the checkpoint carries no state (nothing open, nothing to restore).</summary>
    public bool IsEmpty => Partitions.Count == 0;
}

/// <summary>
/// Connects a sink to a running aggregation for exactly-once. The aggregation keeps its state per source partition
/// (Kafka Streams' tasks): a partition's windows, watermark and dedup ids depend on that partition's events alone,
/// so its state moves with it to whichever process the consumer group gives it. <see cref="Take"/> snapshots the
/// partitions changed since the last <see cref="Confirm"/>, each with the offset it covers, between two batches;
/// <see cref="RestoreState"/> gives a partition's stored snapshot when the partition's assignment reaches the
/// aggregation.
/// Pass one to <see cref="WindowedStream{TEvent,TKey}.Aggregate{TAccumulator,TResult}(Aggregation.IAggregator{TEvent,TAccumulator,TResult},Windowing.WindowOptions?,System.Reactive.Concurrency.IScheduler?,CheckpointHandle)"/>;
/// one subscription at a time.
/// </summary>
public sealed class CheckpointHandle
{
    private readonly object _gate = new();
    private readonly Dictionary<int, long> _confirmed = [];
    private Func<Func<int, long, bool>, Checkpoint>? _take;
    private Action<Checkpoint>? _stored;

    /// <summary>
    /// A partition's stored snapshot for the assignment that starts it (the checkpoint the source seeked to, read in
    /// the same claim), asked with (partition, start offset, generation): a partition assigned twice in quick
    /// succession gets the state of each assignment. Empty: the checkpoint holds no state (start empty); null: no
    /// state is known for that assignment, which fails the stream for a partition that starts past its beginning
    /// (it would otherwise run on from an empty state).
    /// </summary>
    public Func<int, long, long, byte[]?> RestoreState { get; init; } = (_, _, _) => null;

    /// <summary>How keys are written into snapshots; the default handles int, long, string, Guid and UInt128.</summary>
    public object? KeyCodec { get; init; }

    /// <summary>
    /// Set by the runner while the job reads a backlog (a replay, a catch-up after downtime), null otherwise: early
    /// and late updates then go out at most this often instead of every <see cref="Windowing.WindowOptions.EmitInterval"/>.
    /// Results that far behind are not live, and every update is a live message and a row rewritten at the next
    /// checkpoint; finals still go out as the watermark passes, and <see cref="Take"/> first emits the updates held
    /// back, so a checkpoint's results cover its offsets as without the pace.
    /// </summary>
    public TimeSpan? BacklogEmitInterval
    {
        get => Volatile.Read(ref _backlogEmitTicks) is var ticks and > 0 ? TimeSpan.FromTicks(ticks) : null;
        set => Volatile.Write(ref _backlogEmitTicks, value is { Ticks: > 0 } interval ? interval.Ticks : 0);
    }

    // Written by the runner's loop, read by the aggregation's timer: one long, so no torn reads.
    private long _backlogEmitTicks;

    /// <summary>Whether an aggregation is attached (subscribed) now.</summary>
    public bool IsAttached
    {
        get
        {
            lock (_gate)
            {
                return _take is not null;
            }
        }
    }

    /// <summary>Snapshots the partitions that changed since their last confirmed checkpoint, between two batches.</summary>
    public Checkpoint Take()
    {
        Func<Func<int, long, bool>, Checkpoint>? take;
        lock (_gate)
        {
            take = _take;
        }

        return take is null ? throw new InvalidOperationException("no aggregation is running on this checkpoint handle") : take(Changed);
    }

    /// <summary>
    /// Says the checkpoint is stored: its partitions are left out of the next <see cref="Take"/> until they change
    /// again, and the state segments it carried are referred to by hash while they stay unchanged.
    /// </summary>
    public void Confirm(Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        Action<Checkpoint>? stored;
        lock (_gate)
        {
            foreach (var partition in checkpoint.Partitions)
            {
                _confirmed[partition.Partition] = partition.Revision;
            }

            stored = _stored;
        }

        stored?.Invoke(checkpoint);
    }

    private bool Changed(int partition, long revision)
    {
        lock (_gate)
        {
            return !_confirmed.TryGetValue(partition, out var confirmed) || confirmed != revision;
        }
    }

    internal KeyCodec<TKey>? CodecFor<TKey>() => KeyCodec as KeyCodec<TKey>;

    internal void Attach(Func<Func<int, long, bool>, Checkpoint> take, Action<Checkpoint> stored)
    {
        lock (_gate)
        {
            if (_take is not null)
            {
                throw new InvalidOperationException("a checkpoint handle serves one running aggregation at a time");
            }

            (_take, _stored) = (take, stored);
        }
    }

    internal void Detach()
    {
        lock (_gate)
        {
            (_take, _stored) = (null, null);
        }
    }
}
