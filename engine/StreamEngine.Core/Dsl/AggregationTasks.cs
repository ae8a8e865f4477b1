using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Dsl;

/// <summary>
/// The state of one running aggregation: either one state over every partition (event time is the minimum over
/// them), or, under a checkpoint handle, one state per source partition (a task, as in Kafka Streams), each with its
/// own watermark and dedup ids, created when its partition is assigned (restored from the partition's checkpoint)
/// and dropped when the partition is revoked. Per-partition results are deterministic for the partition's input
/// alone, whichever process reads it, which is what lets a partition move between processes exactly once.
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

    /// <summary>Counters of the live states plus the totals of those that were dropped (so totals never go back).</summary>
    public WindowCounters Counters => _tasks.Values.Aggregate(_retired, (sum, task) => sum + task.Engine.Counters);

    public void Process(in EventBatch<TEvent> batch, long nowMs, List<WindowResult<TKey, TResult>> results, List<LateEvent<TEvent>> late, List<TEvent>? accepted = null)
    {
        if (PerPartition && batch.Kind == EventBatchKind.PartitionRevoked)
        {
            // Its state stays where its last checkpoint put it; the next owner restores from there.
            if (_tasks.Remove(batch.Partition, out var gone))
            {
                _retired += gone.Engine.Counters.Totals;
            }

            return;
        }

        var task = TaskFor(PerPartition ? batch.Partition : Shared, batch.NextOffset, nowMs);
        task.Engine.Process(batch, nowMs, results, late, accepted);
        if (batch.Count > 0 || batch.NextOffset > task.NextOffset)
        {
            task.NextOffset = Math.Max(task.NextOffset, batch.NextOffset);
            task.Revision = ++_revision;
        }
    }

    /// <summary>A processing-time tick for every state (idle advance, early and late updates).</summary>
    public void Tick(long nowMs, List<WindowResult<TKey, TResult>> results)
    {
        foreach (var task in _tasks.Values)
        {
            var before = results.Count;
            task.Engine.Tick(nowMs, results);
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

    /// <summary>Snapshots the partitions that changed since creation and that <paramref name="changedSince"/> says are not yet stored.</summary>
    public Checkpoint Take(Func<int, long, bool> changedSince) =>
        new([
            .. _tasks
                .Where(t => t.Value.Revision > 0 && t.Value.NextOffset >= 0 && changedSince(t.Key, t.Value.Revision))
                .OrderBy(t => t.Key)
                .Select(t => new PartitionCheckpoint(t.Key, t.Value.NextOffset, t.Value.Engine.Snapshot(_keyCodec), t.Value.Revision)
                {
                    NewestEventTimeMs = t.Value.Engine.NewestEventTimeMs,
                }),
        ]);

    private PartitionTask TaskFor(int partition, long startOffset, long nowMs)
    {
        if (_tasks.TryGetValue(partition, out var task))
        {
            return task;
        }

        var engine = new WindowedAggregation<TEvent, TKey, TAccumulator, TResult>(_spec, _aggregator, _options) { Partition = partition };
        if (partition != Shared && startOffset >= 0 && _checkpoints!.RestoreState(partition, startOffset) is { } state)
        {
            engine.Restore(state, nowMs, _keyCodec);
        }

        // A new partition starts where the source put it; its first batch (the assignment) says where that is.
        task = new PartitionTask(engine) { NextOffset = startOffset };
        _tasks[partition] = task;
        return task;
    }

    private sealed class PartitionTask(WindowedAggregation<TEvent, TKey, TAccumulator, TResult> engine)
    {
        public WindowedAggregation<TEvent, TKey, TAccumulator, TResult> Engine { get; } = engine;

        /// <summary>Where the partition resumes after what the state includes; -1 while unknown.</summary>
        public long NextOffset { get; set; } = -1;

        /// <summary>The aggregation-wide change counter at this state's last change; 0 while unchanged since creation.</summary>
        public long Revision { get; set; }
    }
}
