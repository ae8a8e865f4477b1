namespace StreamEngine.Core.Events;

/// <summary>
/// The unit the core moves: the events one source poll read from one partition, in partition order. One
/// <c>OnNext</c> per batch, never one per event; operators loop over <see cref="Events"/>.
/// </summary>
/// <param name="Partition">The source partition every event in the batch came from.</param>
/// <param name="Events">The events, in the order the partition holds them.</param>
/// <param name="NextOffset">The source offset after the last event (where a restart resumes), or -1 when unknown.</param>
/// <param name="Kind">Events, or the news that the partition left this process (no events then).</param>
public readonly record struct EventBatch<TEvent>(int Partition, ReadOnlyMemory<TEvent> Events, long NextOffset = -1, EventBatchKind Kind = EventBatchKind.Events)
{
    public int Count => Events.Length;
}

/// <summary>Special batches.</summary>
public static class EventBatch
{
    /// <summary>A marker that <paramref name="partition"/> was revoked: it must stop holding event time back.</summary>
    public static EventBatch<TEvent> Revoked<TEvent>(int partition) => new(partition, ReadOnlyMemory<TEvent>.Empty, -1, EventBatchKind.PartitionRevoked);
}

/// <summary>What an <see cref="EventBatch{TEvent}"/> carries.</summary>
public enum EventBatchKind : byte
{
    /// <summary>Events of the partition (possibly none: an assignment, or a poll that only dead-lettered).</summary>
    Events,

    /// <summary>The partition moved to another process.</summary>
    PartitionRevoked,
}
