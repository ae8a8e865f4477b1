using StreamEngine.Core.AdEvents;
using StreamEngine.Core.Events;

namespace StreamEngine.Kafka.Source;

/// <summary>What the source hands the pipeline, in order: events, and partitions coming and going.</summary>
public abstract record SourceSignal;

/// <summary>Decoded events of one partition from one poll; <see cref="EventBatch{TEvent}.NextOffset"/> is where a restart resumes.</summary>
public sealed record EventsPolled(EventBatch<AdEvent> Batch, int DeadLettered) : SourceSignal;

/// <summary>Partitions now read by this process, starting at the given offsets.</summary>
public sealed record PartitionsAssigned(IReadOnlyDictionary<int, long> StartOffsets) : SourceSignal;

/// <summary>
/// Partitions about to leave this process. The pipeline flushes their results and then completes
/// <see cref="Flushed"/>; the source waits for it (up to its timeout) before letting them go.
/// </summary>
public sealed record PartitionsRevoked(IReadOnlyList<int> Partitions, bool Lost) : SourceSignal
{
    public TaskCompletionSource Flushed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
