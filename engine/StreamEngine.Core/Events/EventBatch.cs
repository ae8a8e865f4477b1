namespace StreamEngine.Core.Events;

/// <summary>
/// The unit the core moves: the events one source poll read from one partition, in partition order. One
/// <c>OnNext</c> per batch, never one per event; operators loop over <see cref="Events"/>.
/// </summary>
/// <param name="Partition">The source partition every event in the batch came from.</param>
/// <param name="Events">The events, in the order the partition holds them.</param>
/// <param name="NextOffset">The source offset after the last event (where a restart resumes), or -1 when unknown.</param>
public readonly record struct EventBatch<TEvent>(int Partition, ReadOnlyMemory<TEvent> Events, long NextOffset = -1)
{
    public int Count => Events.Length;
}
