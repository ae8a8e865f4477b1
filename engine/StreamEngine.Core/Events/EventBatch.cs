namespace StreamEngine.Core.Events;

/// <summary>
/// The unit the core moves: the events one source poll read from one partition, in partition order, or a step of
/// the partition's lifecycle. One <c>OnNext</c> per batch, never one per event; operators loop over <see cref="Events"/>.
/// </summary>
/// <param name="Partition">The source partition every event in the batch came from.</param>
/// <param name="Events">
/// The events, in the order the partition holds them. They are the batch's own: a source never writes to this memory
/// again once it has handed the batch on (operators may keep it, e.g. the accepted events until their checkpoint).
/// </param>
/// <param name="NextOffset">The source offset after the last event (where a restart resumes), or -1 when unknown.</param>
/// <param name="Kind">Events, or a step of the partition's lifecycle (no events then).</param>
/// <param name="Generation">
/// Which assignment of the partition the batch belongs to (0: the source does not number them). A partition's
/// state exists only between its <see cref="EventBatchKind.PartitionAssigned"/> and its release; batches of another
/// generation are discarded, never turned into state.
/// </param>
public readonly record struct EventBatch<TEvent>(int Partition, ReadOnlyMemory<TEvent> Events, long NextOffset = -1, EventBatchKind Kind = EventBatchKind.Events, long Generation = 0)
{
    /// <summary>How many events the batch holds.</summary>
    public int Count => Events.Length;
}

/// <summary>Lifecycle batches.</summary>
public static class EventBatch
{
    /// <summary>The partition is now read by this process from <paramref name="startOffset"/> (-1: its beginning), as assignment <paramref name="generation"/>.</summary>
    public static EventBatch<TEvent> Assigned<TEvent>(int partition, long startOffset, long generation = 0) =>
        new(partition, ReadOnlyMemory<TEvent>.Empty, startOffset, EventBatchKind.PartitionAssigned, generation);

    /// <summary>The partition left this process in order (its final checkpoint is written): release its state.</summary>
    public static EventBatch<TEvent> Revoked<TEvent>(int partition, long generation = 0) =>
        new(partition, ReadOnlyMemory<TEvent>.Empty, -1, EventBatchKind.PartitionRevoked, generation);

    /// <summary>The partition was taken from this process (another may own it already): drop its state, write nothing.</summary>
    public static EventBatch<TEvent> Lost<TEvent>(int partition, long generation = 0) =>
        new(partition, ReadOnlyMemory<TEvent>.Empty, -1, EventBatchKind.PartitionLost, generation);

    /// <summary>The source has read the partition to its end (the broker's high watermark); data arriving later clears it.</summary>
    public static EventBatch<TEvent> EndReached<TEvent>(int partition, long nextOffset, long generation = 0) =>
        new(partition, ReadOnlyMemory<TEvent>.Empty, nextOffset, EventBatchKind.EndOfPartition, generation);
}

/// <summary>What an <see cref="EventBatch{TEvent}"/> carries.</summary>
public enum EventBatchKind : byte
{
    /// <summary>Events of the partition (possibly none: a poll that only dead-lettered).</summary>
    Events,

    /// <summary>The partition moved to another process after its final checkpoint.</summary>
    PartitionRevoked,

    /// <summary>The partition came to this process; <see cref="EventBatch{TEvent}.NextOffset"/> is where reading starts.</summary>
    PartitionAssigned,

    /// <summary>The partition was lost (the group moved it without a revocation): nothing of it may be written.</summary>
    PartitionLost,

    /// <summary>The source read the partition up to the broker's high watermark: it may become idle.</summary>
    EndOfPartition,
}
