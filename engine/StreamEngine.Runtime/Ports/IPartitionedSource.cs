using System.Diagnostics;
using StreamEngine.Core.Events;

namespace StreamEngine.Runtime.Ports;

/// <summary>Running totals of a source; in = decoded + dead-lettered always holds.</summary>
public readonly record struct SourceCounters(long MessagesIn, long Decoded, long DeadLettered, long Pauses, long TransientErrors)
{
    /// <summary>Times the topic's partition count was seen to change while this source ran.</summary>
    public long PartitionCountChanges { get; init; }

    /// <summary>Messages deleted from the topic (retention) before this source read them: lost to every reader, reported and counted.</summary>
    public long LostToRetention { get; init; }
}

/// <summary>Partitions that left the pipeline: revoked (their final checkpoint ran) or lost (nothing of theirs may be written).</summary>
public sealed record PartitionsReleased(IReadOnlyList<int> Partitions, bool Lost);

/// <summary>What the runner does at the source's partition changes and before each batch (see <see cref="IPartitionedSource{TEvent}.Read"/>).</summary>
public sealed record SourceHooks
{
    /// <summary>Runs before a revocation is acknowledged, while the partitions' state is still in the pipeline (the final checkpoint); not for lost partitions.</summary>
    public Action<IReadOnlyList<int>> OnRevoking { get; init; } = _ => { };

    /// <summary>Awaited before each batch of events is handed on: a store that is behind holds the source (back-pressure, not buffering).</summary>
    public Func<CancellationToken, Task> WaitForRoom { get; init; } = _ => Task.CompletedTask;

    /// <summary>Runs once the partitions' revoked or lost markers went through the pipeline.</summary>
    public Action<PartitionsReleased> OnReleased { get; init; } = _ => { };
}

/// <summary>
/// A partitioned, replayable log the runner reads (Kafka in production, in-memory logs in the job test driver). It
/// hands on one batch per partition per poll and the partitions' lifecycle as batches: an
/// <see cref="EventBatchKind.PartitionAssigned"/> per partition it starts (from the offset and generation its
/// <see cref="IResumePositions"/> claim gave), revoked or lost markers when they go, and
/// <see cref="EventBatchKind.EndOfPartition"/> when a partition is read to its end. Events of a partition it no longer
/// holds are never handed on.
/// </summary>
public interface IPartitionedSource<TEvent> : IAsyncDisposable
{
    /// <summary>The topic read.</summary>
    string Topic { get; }

    /// <summary>One line on where it reads, for the start-up banner.</summary>
    string Description { get; }

    /// <summary>Starts reading on subscription. Completes when the source stops; errors with the reason when it fails.</summary>
    IObservable<EventBatch<TEvent>> Read(SourceHooks hooks);

    /// <summary>Completes when the source stops; faults with the reason when it fails.</summary>
    Task Completion { get; }

    /// <summary>The source's totals (messages, dead letters, pauses).</summary>
    SourceCounters Counters { get; }

    /// <summary>Messages not yet read, per partition.</summary>
    IReadOnlyDictionary<int, long> ConsumerLag { get; }

    /// <summary>The partitions this process holds now, in order.</summary>
    IReadOnlyList<int> AssignedPartitions { get; }

    /// <summary>Whether every assigned partition has been read to its end and nothing read still waits to be handed on.</summary>
    bool IsCaughtUp { get; }

    /// <summary>Whether the source knows it lost <paramref name="partition"/> as <paramref name="generation"/>, before the news went through the pipeline.</summary>
    bool WasLost(int partition, long generation);

    /// <summary>Results up to <paramref name="nextOffset"/> of a partition are stored (for lag monitoring; the store holds the positions).</summary>
    void MarkProcessed(int partition, long nextOffset);

    /// <summary>Trace contexts of messages read since the last call: a checkpoint's span links to them.</summary>
    IReadOnlyList<ActivityLink> TakeTraceLinks();

    /// <summary>
    /// Waits until the dead letters of every message read so far are delivered (a checkpoint whose offsets cover a
    /// message is stored only after its dead letter is); throws <see cref="SideOutputDeliveryException"/> if some are
    /// not within <paramref name="timeout"/>. Batches are handed on without waiting for their dead letters.
    /// </summary>
    void DeliverDeadLetters(TimeSpan timeout);
}
