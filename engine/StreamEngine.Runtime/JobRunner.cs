namespace StreamEngine.Runtime;

/// <summary>How a <see cref="JobRunner"/> run ended.</summary>
/// <param name="Failure">The first job's failure, or null when every job stopped normally.</param>
/// <param name="FailedJob">The name of the job that failed, or null.</param>
/// <param name="DrainTimedOut">Whether the drain (last checkpoints) outlasted the shutdown timeout; what was not stored is replayed by the partitions' next owner.</param>
public sealed record JobRunOutcome(Exception? Failure, string? FailedJob, bool DrainTimedOut)
{
    /// <summary>Whether every job ended without a failure and drained in time.</summary>
    public bool Succeeded => Failure is null && !DrainTimedOut;
}

/// <summary>Options of a <see cref="JobRunner"/> run.</summary>
public sealed record JobRunOptions
{
    /// <summary>Stop each job once it has been caught up with nothing new for this long; null: run until stopped.</summary>
    public TimeSpan? UntilIdle { get; init; }

    /// <summary>How long the drain may take once a stop was asked (a signal, or another job's failure), a checkpoint under way included.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Runs started jobs of every kind side by side, as one process of the engine: until <c>stopping</c> fires, a job
/// fails (the others are then stopped too: a process runs its jobs together or not at all), or, with
/// <see cref="JobRunOptions.UntilIdle"/>, every job is done. Then each job drains (its last checkpoint, then its
/// source leaves the group, so its partitions move at once), within <see cref="JobRunOptions.ShutdownTimeout"/> of the
/// stop. <c>streamengine run</c> and <c>demo</c> both run their jobs this way.
/// </summary>
public static class JobRunner
{
    /// <summary>Runs the jobs side by side until they stop, one fails or <paramref name="stopping"/> is cancelled, then drains every one within the options' shutdown timeout.</summary>
    public static async Task<JobRunOutcome> RunAsync(IReadOnlyList<IRunningJob> jobs, JobRunOptions options, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(options);
        using var stopAll = new CancellationTokenSource();
        var stopAsked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The jobs' continuations after a stop (their drains) run inline in whoever cancels: not in the caller's
        // Cancel (a signal handler's thread), and not before the shutdown timeout has started. The stop is noted
        // first, then passed on from the thread pool.
        await using var onStop = stopping.Register(() =>
        {
            stopAsked.TrySetResult();
            ThreadPool.QueueUserWorkItem(_ => StopAll(stopAll));
        });
        var runs = jobs.Select(job => Task.Run(() => RunThenDrainAsync(job, options.UntilIdle, stopAll, stopAsked))).ToList();
        var all = Task.WhenAll(runs);
        await Task.WhenAny(all, stopAsked.Task);
        if (!all.IsCompleted && await Task.WhenAny(all, Task.Delay(options.ShutdownTimeout, CancellationToken.None)) != all)
        {
            var failed = runs.Where(r => r.IsCompletedSuccessfully).Select(r => r.Result).FirstOrDefault(r => r.Failure is not null);
            return new JobRunOutcome(failed.Failure, failed.Job, DrainTimedOut: true);
        }

        var (job, failure) = (await all).FirstOrDefault(r => r.Failure is not null);
        return new JobRunOutcome(failure, job, DrainTimedOut: false);
    }

    private static void StopAll(CancellationTokenSource stopAll)
    {
        try
        {
            stopAll.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run ended meanwhile: nothing left to stop.
        }
    }

    private static async Task<(string Job, Exception? Failure)> RunThenDrainAsync(IRunningJob job, TimeSpan? untilIdle, CancellationTokenSource stopAll, TaskCompletionSource stopAsked)
    {
        Exception? failure;
        try
        {
            failure = await job.RunAsync(untilIdle, stopAll.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = e;
        }

        if (failure is not null)
        {
            stopAsked.TrySetResult();
            await stopAll.CancelAsync(); // the others stop and drain too (CancelAsync runs their continuations on the pool)
        }

        try
        {
            await job.DisposeAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException && failure is null)
        {
            failure = e;
        }

        return (job.Name, failure);
    }
}
