using System.Diagnostics;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Runtime;

/// <summary>
/// The work of a scheduled job: a cycle that reads stored results and writes what follows from them (dynamic
/// pricing's floors and alerts). A cycle must be a function of what is stored, never of when it runs, and safe to
/// repeat (keyed rows), so a restart or a second engine changes nothing.
/// </summary>
public interface IScheduledWork
{
    /// <summary>The job's name.</summary>
    string Name { get; }

    /// <summary>One line on what it reads and writes, for the start-up banner.</summary>
    string Description { get; }

    /// <summary>Time between the end of one cycle and the start of the next.</summary>
    TimeSpan Interval { get; }

    /// <summary>One cycle; returns how many rows it wrote (0: nothing changed).</summary>
    Task<int> RunCycleAsync(CancellationToken cancellationToken);

    /// <summary>Rows written so far.</summary>
    long RowsWritten { get; }

    /// <summary>Each table written, with its writer's totals.</summary>
    IReadOnlyList<(string Table, WriterCounters Counters)> Sinks { get; }
}

/// <summary>
/// Runs an <see cref="IScheduledWork"/> every <see cref="IScheduledWork.Interval"/> until stopped; a cycle that fails
/// stops the job with the reason (the next run starts again from what is stored).
/// </summary>
public sealed class ScheduledJob(IScheduledWork work) : IRunningJob
{
    private readonly IScheduledWork _work = work ?? throw new ArgumentNullException(nameof(work));

    /// <inheritdoc/>
    public string Name => _work.Name;

    /// <inheritdoc/>
    public string Description => _work.Description;

    /// <inheritdoc/>
    public PipelineStatus Status => new(0, 0, 0, 0, _work.RowsWritten, 0, _work.Sinks.Sum(s => s.Counters.FailedAttempts));

    /// <summary>It reads the store, not a topic: only its sinks.</summary>
    public JobTelemetry Telemetry => new() { Sinks = _work.Sinks };

    /// <summary>From process start until its first cycle completed.</summary>
    public TimeSpan? CaughtUpAfter { get; private set; }

    /// <inheritdoc/>
    public async Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping)
    {
        var quietSince = Stopwatch.StartNew();
        while (!stopping.IsCancellationRequested)
        {
            int changed;
            try
            {
                changed = await _work.RunCycleAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return e;
            }

            CaughtUpAfter ??= DateTime.Now - Process.GetCurrentProcess().StartTime;
            if (changed > 0)
            {
                quietSince.Restart();
            }
            else if (untilIdle is { } idle && quietSince.Elapsed >= idle)
            {
                break;
            }

            try
            {
                await Task.Delay(_work.Interval, stopping);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return null;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _work is IAsyncDisposable disposable ? disposable.DisposeAsync() : ValueTask.CompletedTask;
}
