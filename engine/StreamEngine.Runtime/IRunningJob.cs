using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Runtime;

/// <summary>What a running job has done so far, for status lines.</summary>
public readonly record struct PipelineStatus(long MessagesIn, long Events, long DeadLettered, long Late, long ResultRows, long Lag, long FailedWrites)
{
    /// <summary>Times a checkpoint found partitions claimed by a newer assignment (another process) and wrote nothing of theirs.</summary>
    public long Fenced { get; init; }

    /// <summary>Checkpoints that failed because late or dead-letter records were not delivered (retried; the offsets did not advance).</summary>
    public long SideOutputFailures { get; init; }

    /// <summary>Times the source paused its partitions because the pipeline had no room for what it polled.</summary>
    public long SourcePauses { get; init; }

    /// <summary>Messages deleted from the topic by retention before the source read them (lost; each gap is logged as a warning).</summary>
    public long LostToRetention { get; init; }

    /// <summary>Times the source saw its topic's partition count change.</summary>
    public long PartitionCountChanges { get; init; }
}

/// <summary>What a running job looks like inside, for <c>/metrics</c> and <c>/readyz</c>.</summary>
public sealed record JobTelemetry
{
    /// <summary>The topic read; empty for a job that reads no topic.</summary>
    public string Topic { get; init; } = "";

    /// <summary>The partitions this process holds now.</summary>
    public IReadOnlyList<int> AssignedPartitions { get; init; } = [];

    /// <summary>Messages not yet read, per assigned partition.</summary>
    public IReadOnlyDictionary<int, long> PartitionLag { get; init; } = new Dictionary<int, long>();

    /// <summary>The aggregation's counters and gauges: duplicates, open windows, tracked ids, watermark.</summary>
    public WindowCounters Window { get; init; } = new(0, 0, 0, 0, 0, 0, 0, 0, long.MinValue);

    /// <summary>Bytes of the partitions' state as last checkpointed.</summary>
    public long StateBytes { get; init; }

    /// <summary>Rows (results and accepted events) waiting for the next checkpoint to write them.</summary>
    public long PendingRows { get; init; }

    /// <summary>Since when the source is held back because <see cref="PendingRows"/> reached the job's bound (the store is down, slow or full); null when it is not.</summary>
    public DateTimeOffset? HeldBackSince { get; init; }

    /// <summary>Whether the source is held back (the store has not taken what is pending).</summary>
    public bool SourceHeldBack => HeldBackSince is not null;

    /// <summary>Each table written, with its writer's totals.</summary>
    public IReadOnlyList<(string Table, WriterCounters Counters)> Sinks { get; init; } = [];

    /// <summary>No telemetry (a job that has none).</summary>
    public static JobTelemetry None { get; } = new();
}

/// <summary>
/// A started job of any kind (<see cref="StreamingJob{TEvent,TKey,TResult}"/>, <see cref="ScheduledJob"/>), as
/// <see cref="JobRunner"/>, the status lines and <c>/metrics</c> see it. Disposing it drains it: the last checkpoint,
/// then its source and sinks close.
/// </summary>
public interface IRunningJob : IAsyncDisposable
{
    /// <summary>The job's name (<c>streamengine run --job NAME</c>).</summary>
    string Name { get; }

    /// <summary>One line on what runs where, for the start-up banner.</summary>
    string Description { get; }

    /// <summary>The job's progress and totals now.</summary>
    PipelineStatus Status { get; }

    /// <summary>Partitions, lag, windows, state and sinks, for metrics and readiness.</summary>
    JobTelemetry Telemetry { get; }

    /// <summary>From process start until everything assigned was first read to its end and its results written (a scheduled job: its first cycle).</summary>
    TimeSpan? CaughtUpAfter { get; }

    /// <summary>
    /// Runs until <paramref name="stopping"/> fires, the job fails (returns the error), or, with
    /// <paramref name="untilIdle"/>, it has been caught up with nothing new for that long. Null means it stopped normally.
    /// </summary>
    Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping);
}
