using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Runtime.Ports;

/// <summary>Totals of one table's writer.</summary>
public readonly record struct WriterCounters(long Batches, long Rows, long FailedAttempts, long Retries)
{
    /// <summary>The write under way keeps failing and is being retried (null: the last attempt succeeded or none failed yet).</summary>
    public WriteStall? Stall { get; init; }
}

/// <summary>
/// A write that has not gone through since <paramref name="Since"/>: the store keeps refusing it for a reason that
/// waiting can cure (unreachable, overloaded, out of disk space). Everything after it waits, and the source is held back.
/// </summary>
public sealed record WriteStall(DateTimeOffset Since, string Reason);

/// <summary>
/// Where a job's results and checkpoints are stored (ClickHouse in production, in memory in the job test driver), with
/// the semantics the checkpoint protocol needs (docs/exactly-once.md): result rows keyed by (key, window, source
/// partition) with the newest version winning, so a replay writes the same rows again harmlessly; per partition the
/// checkpoint of the newest (generation, offset) winning; and the claims of newer assignments visible, for fencing.
/// </summary>
public interface IResultsStore<TEvent, TKey, TResult>
    where TKey : notnull
{
    /// <summary>One line on where results go, for the start-up banner.</summary>
    string Description { get; }

    /// <summary>
    /// The stored snapshot for the assignment (partition, start offset, generation) the source's claim started: empty
    /// when the checkpoint holds no state, null when none is known (see <see cref="CheckpointHandle.RestoreState"/>).
    /// A state in segments comes back with every segment inline (<see cref="Core.State.StateSegments.Resolve"/>), and
    /// the store keeps those segments for as long as the partition's newest checkpoint refers to them: the restored
    /// aggregation refers to them by hash from its first checkpoint on.
    /// </summary>
    byte[]? RestoreState(int partition, long offset, long generation);

    /// <summary>Of the partitions held as the given generations, those a newer assignment has claimed (another process owns them now).</summary>
    Task<IReadOnlyCollection<int>> FencedAsync(IReadOnlyDictionary<int, long> held, CancellationToken cancellationToken);

    /// <summary>Writes results and the events the job accepted (raw events, when the store keeps them); completes once they are stored.</summary>
    Task WriteResultsAsync(IReadOnlyList<WindowResult<TKey, TResult>> results, IReadOnlyList<EventBatch<TEvent>> accepted, string batchId, CancellationToken cancellationToken);

    /// <summary>
    /// Stores the checkpoint that says everything before it is written. Its states may refer to segments of the
    /// partition's earlier stored checkpoints by hash (<see cref="Core.State.StateSegments"/>): the store keeps each
    /// segment carried inline, before the checkpoint, and puts them back when the state is restored.
    /// </summary>
    Task SaveCheckpointAsync(Checkpoint checkpoint, CancellationToken cancellationToken);

    /// <summary>Result rows written so far (replays included).</summary>
    long ResultRows { get; }

    /// <summary>Write attempts that failed and were retried (results and checkpoints).</summary>
    long FailedWriteAttempts { get; }

    /// <summary>Each table written, with its writer's totals.</summary>
    IReadOnlyList<(string Table, WriterCounters Counters)> Sinks { get; }
}
