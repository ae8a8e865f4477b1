using System.Reactive.Concurrency;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Dsl;

/// <summary>
/// What a job gets from the host: the configured windowing behaviour, the clock to run on, and (under an
/// exactly-once sink) the checkpoint handle its aggregation restores from and is checkpointed through.
/// </summary>
public sealed record JobContext(WindowOptions Windowing, IScheduler Scheduler, CheckpointHandle? Checkpoints = null)
{
    /// <summary>Contract defaults on the default scheduler.</summary>
    public static JobContext Default { get; } = new(new WindowOptions(), DefaultScheduler.Instance);
}

/// <summary>
/// A processing job: a small class with a name and a pipeline built with the DSL from the events it is given.
/// The host supplies the source and consumes what <see cref="Build"/> returns.
/// </summary>
public interface IStreamJob<TEvent, out TOutput>
{
    /// <summary>The job's name on the command line (<c>streamengine run --job NAME</c>), e.g. <c>ad-metrics</c>.</summary>
    string Name { get; }

    /// <summary>The pipeline: events in, output out, with the runner's context (windowing, time, checkpoints).</summary>
    IObservable<TOutput> Build(IObservable<EventBatch<TEvent>> events, JobContext context);
}
