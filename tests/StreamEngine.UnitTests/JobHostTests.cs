using StreamEngine.Host.Running;
using StreamEngine.Runtime;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.UnitTests;

/// <summary>Jobs as hosted services of the Generic Host: together or not at all, each drained once, the host ending with them.</summary>
public sealed class JobHostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task A_failing_job_stops_the_host_and_the_other_jobs_drain()
    {
        var failing = new HostedJob("bid-landscape") { FailWith = new InvalidOperationException("the store refused a write") };
        var healthy = new HostedJob("ad-metrics");

        var outcome = await JobHost.RunAsync([healthy, failing], new JobRunOptions(), CancellationToken.None).WaitAsync(Patience);

        Assert.Equal("bid-landscape", outcome.FailedJob);
        Assert.Equal("the store refused a write", outcome.Failure?.Message);
        Assert.False(outcome.DrainTimedOut);
        Assert.True(healthy.WasStopped, "the healthy job must be told to stop when another fails");
        Assert.Equal(1, healthy.Drains);
        Assert.Equal(1, failing.Drains);
    }

    [Fact]
    public async Task Until_idle_the_host_ends_once_every_job_is_done_and_not_before()
    {
        var quick = new HostedJob("quick") { Idle = Task.CompletedTask };
        var idle = new TaskCompletionSource();
        var slow = new HostedJob("slow") { Idle = idle.Task };

        var run = JobHost.RunAsync([quick, slow], new JobRunOptions { UntilIdle = TimeSpan.FromSeconds(1) }, CancellationToken.None);
        await quick.Drained.Task.WaitAsync(Patience);
        await slow.Running.Task.WaitAsync(Patience);
        Assert.False(run.IsCompleted, "the host must wait for the slower job");
        idle.SetResult();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Succeeded);
        Assert.Equal(1, quick.Drains);
        Assert.Equal(1, slow.Drains);
        Assert.False(slow.WasStopped, "a job that ends by itself is not stopped");
    }

    [Fact]
    public async Task A_stop_drains_every_job_and_is_no_failure_and_a_stuck_drain_is_reported()
    {
        using var stopping = new CancellationTokenSource();
        var stuck = new HostedJob("stuck") { DrainBlocks = new TaskCompletionSource() };
        var fine = new HostedJob("fine");
        var run = JobHost.RunAsync([fine, stuck], new JobRunOptions { ShutdownTimeout = TimeSpan.FromMilliseconds(200) }, stopping.Token);
        await Task.WhenAll(fine.Running.Task, stuck.Running.Task).WaitAsync(Patience);

        await stopping.CancelAsync();
        var outcome = await run.WaitAsync(Patience);

        Assert.Null(outcome.Failure);
        Assert.True(outcome.DrainTimedOut);
        Assert.True(fine.WasStopped && stuck.WasStopped);
        Assert.Equal(1, fine.Drains);
        stuck.DrainBlocks!.SetResult();
    }

    [Fact]
    public async Task Every_job_is_told_to_stop_at_once_and_drains_beside_the_others()
    {
        // Each drain waits until the other job has been told to stop: jobs stopped one after another would wait on
        // each other until the shutdown timeout.
        using var stopping = new CancellationTokenSource();
        var first = new HostedJob("first");
        var second = new HostedJob("second");
        first.DrainWaitsFor = second.Stopped.Task;
        second.DrainWaitsFor = first.Stopped.Task;
        var run = JobHost.RunAsync([first, second], new JobRunOptions { ShutdownTimeout = TimeSpan.FromSeconds(20) }, stopping.Token);
        await Task.WhenAll(first.Running.Task, second.Running.Task).WaitAsync(Patience);

        await stopping.CancelAsync();
        var outcome = await run.WaitAsync(Patience);

        Assert.True(outcome.Succeeded, $"drain timed out: {outcome.DrainTimedOut}");
        Assert.Equal((1, 1), (first.Drains, second.Drains));
    }

    [Fact]
    public async Task A_stop_that_comes_before_the_host_starts_still_starts_and_drains_every_job()
    {
        using var stopping = new CancellationTokenSource();
        await stopping.CancelAsync();
        var job = new HostedJob("early");

        var outcome = await JobHost.RunAsync([job], new JobRunOptions(), stopping.Token).WaitAsync(Patience);

        Assert.True(outcome.Succeeded, $"{outcome}; drains {job.Drains}, stopped {job.WasStopped}");
        Assert.Equal(1, job.Drains);
    }

    private sealed class HostedJob(string name) : IRunningJob
    {
        public string Name => name;

        public Exception? FailWith { get; init; }

        /// <summary>Completes when the job has been idle long enough (with until-idle); null: it runs until stopped.</summary>
        public Task? Idle { get; init; }

        public TaskCompletionSource? DrainBlocks { get; init; }

        /// <summary>The drain does not finish before this has (bounded: a minute).</summary>
        public Task? DrainWaitsFor { get; set; }

        public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Running { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool WasStopped { get; private set; }

        public int Drains { get; private set; }

        public string Description => Name;

        public PipelineStatus Status => default;

        public JobTelemetry Telemetry => JobTelemetry.None;

        public TimeSpan? CaughtUpAfter => null;

        public async Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping)
        {
            Running.TrySetResult();
            if (FailWith is not null)
            {
                await Task.Yield();
                return FailWith;
            }

            try
            {
                await (untilIdle is not null && Idle is not null ? Idle.WaitAsync(stopping) : Task.Delay(Timeout.Infinite, stopping));
            }
            catch (OperationCanceledException)
            {
                WasStopped = true;
                Stopped.TrySetResult();
            }

            return null;
        }

        public async ValueTask DisposeAsync()
        {
            Drains++;
            if (DrainWaitsFor is not null)
            {
                await Task.WhenAny(DrainWaitsFor, Task.Delay(Patience));
            }

            if (DrainBlocks is not null)
            {
                await DrainBlocks.Task;
            }

            Drained.TrySetResult();
        }
    }
}
