using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Dsl;

/// <summary>
/// The state of one running aggregation: either one state over every partition (event time is the minimum over
/// them), or, under a checkpoint handle, one state per source partition (a task, as in Kafka Streams), each with its
/// own watermark and dedup ids. Per-partition results are deterministic for the partition's input alone, whichever
/// process reads it, which is what lets a partition move between processes exactly once.
/// <para>
/// Under a checkpoint handle the partition lifecycle is explicit: a task exists only between the partition's
/// <see cref="EventBatchKind.PartitionAssigned"/> batch (which creates it, restored from the checkpoint the source
/// seeked to, and replaces anything this process still held of the partition) and its
/// <see cref="EventBatchKind.PartitionRevoked"/> or <see cref="EventBatchKind.PartitionLost"/> batch (which drop it).
/// Events of a partition without a task, or of another assignment generation, are discarded and counted: a batch
/// that was in flight when its partition left can never become a fresh, unrestored state whose checkpoint would
/// then claim the partition's offsets.
/// </para>
/// </summary>
internal sealed class AggregationTasks<TEvent, TKey, TAccumulator, TResult>
    where TKey : notnull
{
    private const int Shared = -1;
    private readonly WindowedAggregationSpec<TEvent, TKey> _spec;
    private readonly IAggregator<TEvent, TAccumulator, TResult> _aggregator;
    private readonly WindowOptions _options;
    private readonly CheckpointHandle? _checkpoints;
    private readonly KeyCodec<TKey>? _keyCodec;
    private readonly Dictionary<int, PartitionTask> _tasks = [];
    private WindowCounters _retired = new(0, 0, 0, 0, 0, 0, 0, 0, long.MinValue);
    private long _discarded;
    private long _revision;

    public AggregationTasks(WindowedAggregationSpec<TEvent, TKey> spec, IAggregator<TEvent, TAccumulator, TResult> aggregator, WindowOptions options, CheckpointHandle? checkpoints)
    {
        _spec = spec;
        _aggregator = aggregator;
        _options = options;
        _checkpoints = checkpoints;
        _keyCodec = checkpoints?.CodecFor<TKey>();
    }

    private bool PerPartition => _checkpoints is not null;

    /// <summary>Events discarded so far because their partition was not held as the batch's generation.</summary>
    public long Discarded => _discarded;

    /// <summary>Counters of the live states plus the totals of those that were dropped (so totals never go back).</summary>
    public WindowCounters Counters => _tasks.Values.Aggregate(_retired, (sum, task) => sum + task.Engine.Counters) with { Discarded = _discarded };

    public void Process(in EventBatch<TEvent> batch, long nowMs, List<WindowResult<TKey, TResult>> results, List<LateEvent<TEvent>> late, List<TEvent>? accepted = null)
    {
        if (!PerPartition)
        {
            Process(SharedTask(), batch, nowMs, results, late, accepted);
            return;
        }

        switch (batch.Kind)
        {
            case EventBatchKind.PartitionAssigned:
                Assign(batch.Partition, batch.NextOffset, batch.Generation);
                return;
            case EventBatchKind.PartitionRevoked or EventBatchKind.PartitionLost:
                // A revoked partition's state stays where its final checkpoint put it; a lost one's where its last
                // stored checkpoint did. The next owner restores from there.
                if (Owned(batch) is not null)
                {
                    Release(batch.Partition);
                }

                return;
        }

        if (Owned(batch) is not { } task)
        {
            _discarded += batch.Count;
            return;
        }

        Process(task, batch, nowMs, results, late, accepted);
    }

    /// <summary>A processing-time tick for every state (idleness; early and late updates unless <paramref name="emitUpdates"/> is false).</summary>
    public void Tick(long nowMs, List<WindowResult<TKey, TResult>> results, bool emitUpdates)
    {
        foreach (var task in _tasks.Values)
        {
            var before = results.Count;
            task.Engine.Tick(nowMs, results, emitUpdates);
            if (results.Count > before)
            {
                task.Revision = ++_revision; // windows closed or updates went out: the state changed
            }
        }
    }

    /// <summary>End of input: every window of every state closes.</summary>
    public void Drain(List<WindowResult<TKey, TResult>> results)
    {
        foreach (var task in _tasks.Values)
        {
            task.Engine.Drain(results);
        }
    }

    /// <summary>
    /// Snapshots the partitions that changed since creation and that <paramref name="changedSince"/> says are not yet
    /// stored. Each partition is snapshotted under <paramref name="gate"/> (between two of its batches), and the gate
    /// is let go between partitions: the aggregation waits for one partition's snapshot at a time, not for all of them.
    /// Each part is still a consistent (state, offset) pair; results emitted meanwhile wait for the checkpoint that
    /// takes them (or are written with this one: a replay from the part's offset writes the same rows again).
    /// </summary>
    public Checkpoint Take(Func<int, long, bool> changedSince, object gate)
    {
        int[] partitions;
        lock (gate)
        {
            partitions = [.. _tasks.Keys.Order()];
        }

        var parts = new List<PartitionCheckpoint>(partitions.Length);
        foreach (var partition in partitions)
        {
            lock (gate)
            {
                // Revoked, lost or assigned again since the list was taken: whatever it is now, decided now.
                if (!_tasks.TryGetValue(partition, out var task) || task.Revision <= 0 || task.NextOffset < 0 || !changedSince(partition, task.Revision))
                {
                    continue;
                }

                parts.Add(new PartitionCheckpoint(partition, task.NextOffset, task.Engine.Snapshot(_keyCodec), task.Revision)
                {
                    StateBytes = task.Engine.SnapshotBytes,
                    NewestEventTimeMs = task.Engine.NewestEventTimeMs,
                    WatermarkMs = task.Engine.WatermarkMs,
                    Generation = task.Generation,
                });
            }
        }

        return new Checkpoint(parts);
    }

    /// <summary>
    /// A checkpoint was stored: each partition's state segments in it are stored, so its snapshots refer to them by
    /// hash while unchanged. Only for the assignment that took it (a partition assigned again since starts afresh).
    /// </summary>
    public void Stored(Checkpoint checkpoint)
    {
        foreach (var part in checkpoint.Partitions)
        {
            if (_tasks.TryGetValue(part.Partition, out var task) && task.Generation == part.Generation)
            {
                task.Engine.MarkStored(StateSegments.References(part.State));
            }
        }
    }

    private void Process(PartitionTask task, in EventBatch<TEvent> batch, long nowMs, List<WindowResult<TKey, TResult>> results, List<LateEvent<TEvent>> late, List<TEvent>? accepted)
    {
        task.Engine.Process(batch, nowMs, results, late, accepted);
        if (batch.Kind == EventBatchKind.Events && (batch.Count > 0 || batch.NextOffset > task.NextOffset))
        {
            task.NextOffset = Math.Max(task.NextOffset, batch.NextOffset);
            task.Revision = ++_revision;
        }
    }

    /// <summary>The task of the batch's partition when it belongs to the assignment that task serves; null otherwise.</summary>
    private PartitionTask? Owned(in EventBatch<TEvent> batch) =>
        _tasks.TryGetValue(batch.Partition, out var task) && task.Generation == batch.Generation ? task : null;

    private void Assign(int partition, long startOffset, long generation)
    {
        // Whatever this process still holds of the partition belongs to an earlier assignment: its state matches no
        // checkpoint the new assignment starts from.
        Release(partition);
        var engine = new WindowedAggregation<TEvent, TKey, TAccumulator, TResult>(_spec, _aggregator, _options) { Partition = partition };
        if (startOffset >= 0)
        {
            var state = _checkpoints!.RestoreState(partition, startOffset, generation)
                        ?? throw new InvalidOperationException($"partition {partition} starts at offset {startOffset} (generation {generation}) but no state is known for that checkpoint");
            if (state.Length > 0)
            {
                engine.Restore(state, _keyCodec);
            }
        }

        // Registers the partition with its watermark, so it holds event time back before its first event.
        engine.Process(EventBatch.Assigned<TEvent>(partition, startOffset, generation), 0, [], []);
        _tasks[partition] = new PartitionTask(engine) { NextOffset = startOffset, Generation = generation };
    }

    private void Release(int partition)
    {
        if (_tasks.Remove(partition, out var gone))
        {
            _retired += gone.Engine.Counters.Totals;
        }
    }

    private PartitionTask SharedTask()
    {
        if (!_tasks.TryGetValue(Shared, out var task))
        {
            _tasks[Shared] = task = new PartitionTask(new WindowedAggregation<TEvent, TKey, TAccumulator, TResult>(_spec, _aggregator, _options));
        }

        return task;
    }

    private sealed class PartitionTask(WindowedAggregation<TEvent, TKey, TAccumulator, TResult> engine)
    {
        public WindowedAggregation<TEvent, TKey, TAccumulator, TResult> Engine { get; } = engine;

        /// <summary>Where the partition resumes after what the state includes; -1 while unknown (read from its beginning, nothing read yet).</summary>
        public long NextOffset { get; set; } = -1;

        /// <summary>The assignment this task serves; batches of any other are not its input.</summary>
        public long Generation { get; init; }

        /// <summary>The aggregation-wide change counter at this state's last change; 0 while unchanged since creation.</summary>
        public long Revision { get; set; }
    }
}
