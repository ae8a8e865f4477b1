using StreamEngine.Core.Events;

namespace StreamEngine.Kafka.Source;

/// <summary>What the source hands the pipeline, in order: events, and partitions coming and going.</summary>
public abstract record SourceSignal;

/// <summary>
/// Decoded events of one partition from one poll (<see cref="EventBatch{TEvent}.NextOffset"/> is where a restart
/// resumes), or the news that the partition is read to its end (<see cref="EventBatchKind.EndOfPartition"/>).
/// </summary>
public sealed record EventsPolled<TEvent>(EventBatch<TEvent> Batch, int DeadLettered) : SourceSignal;

/// <summary>Partitions now read by this process, each from its start offset as a new generation.</summary>
public sealed record PartitionsAssigned(IReadOnlyDictionary<int, PartitionStart> Starts) : SourceSignal;

/// <summary>
/// Partitions about to leave this process, with the generation each was held as. Revoked: the pipeline writes their
/// final checkpoint and then completes <see cref="Flushed"/>; the source waits for it (up to its timeout) before
/// letting them go. Lost: another process may own them already; nothing of theirs is written.
/// </summary>
public sealed record PartitionsRevoked(IReadOnlyDictionary<int, long> Generations, bool Lost) : SourceSignal
{
    /// <summary>The partitions, in order.</summary>
    public IReadOnlyList<int> Partitions { get; } = [.. Generations.Keys.Order()];

    public TaskCompletionSource Flushed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
