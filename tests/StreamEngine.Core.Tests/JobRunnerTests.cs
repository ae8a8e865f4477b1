using StreamEngine.Runtime;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Core.Tests;

/// <summary>How the runtime runs a process's jobs side by side: together or not at all, each drained once.</summary>
public sealed class JobRunnerTests
{
    [Fact]
    public async Task A_failing_job_stops_the_others_and_every_job_is_drained_once()
    {
        var failing = new FakeJob("bid-landscape") { FailWith = new InvalidOperationException("the store refused a write") };
        var healthy = new FakeJob("ad-metrics");

        var outcome = await JobRunner.RunAsync([healthy, failing], new JobRunOptions(), CancellationToken.None);

        Assert.Equal("bid-landscape", outcome.FailedJob);
        Assert.Equal("the store refused a write", outcome.Failure?.Message);
        Assert.False(outcome.DrainTimedOut);
        Assert.True(healthy.WasStopped, "the healthy job must be told to stop when another fails");
        Assert.Equal(1, healthy.Drains);
        Assert.Equal(1, failing.Drains);
    }

    [Fact]
    public async Task A_stop_drains_every_job_and_is_no_failure()
    {
        using var stopping = new CancellationTokenSource();
        var jobs = new[] { new FakeJob("a"), new FakeJob("b") };
        var run = JobRunner.RunAsync(jobs, new JobRunOptions(), stopping.Token);
        await Task.WhenAll(jobs.Select(j => j.Running.Task));

        await stopping.CancelAsync();
        var outcome = await run;

        Assert.True(outcome.Succeeded);
        Assert.All(jobs, j => Assert.Equal(1, j.Drains));
    }

    [Fact]
    public async Task A_drain_that_outlasts_the_shutdown_timeout_is_reported_not_awaited()
    {
        using var stopping = new CancellationTokenSource();
        var stuck = new FakeJob("stuck") { DrainBlocks = new TaskCompletionSource() };
        var run = JobRunner.RunAsync([stuck], new JobRunOptions { ShutdownTimeout = TimeSpan.FromMilliseconds(50) }, stopping.Token);
        await stuck.Running.Task;

        await stopping.CancelAsync();
        var outcome = await run;

        Assert.True(outcome.DrainTimedOut);
        Assert.False(outcome.Succeeded);
        stuck.DrainBlocks.SetResult();
    }

    [Fact]
    public async Task A_drain_that_blocks_its_thread_neither_holds_up_the_caller_s_cancel_nor_the_shutdown_timeout()
    {
        // A stop comes from a signal handler's Cancel; the jobs' drains must not run inside it (they would hold the
        // handler, and the shutdown timeout would never start).
        using var stopping = new CancellationTokenSource();
        using var gate = new ManualResetEventSlim();
        var blocking = new FakeJob("ad-metrics") { DrainBlocksThread = gate };
        var run = JobRunner.RunAsync([blocking], new JobRunOptions { ShutdownTimeout = TimeSpan.FromMilliseconds(100) }, stopping.Token);
        await blocking.Running.Task;

        await Task.Run(stopping.Cancel).WaitAsync(TimeSpan.FromMinutes(1));
        var outcome = await run.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.True(outcome.DrainTimedOut);
        gate.Set();
    }

    [Fact]
    public async Task A_drain_that_throws_is_the_run_s_failure()
    {
        using var stopping = new CancellationTokenSource();
        var job = new FakeJob("ad-metrics") { DrainFails = new IOException("the last checkpoint failed") };
        var run = JobRunner.RunAsync([job], new JobRunOptions(), stopping.Token);
        await job.Running.Task;

        await stopping.CancelAsync();
        var outcome = await run;

        Assert.Equal("the last checkpoint failed", outcome.Failure?.Message);
    }

    [Fact]
    public async Task A_scheduled_job_runs_cycles_until_idle_and_a_failing_cycle_is_its_failure()
    {
        var work = new CountingWork([2, 1, 0, 0, 0]);
        var job = new ScheduledJob(work);

        Assert.Null(await job.RunAsync(untilIdle: TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(3, work.Cycles); // two that wrote, then the first quiet one ends an idle-zero run
        Assert.Equal(3, job.Status.ResultRows);
        Assert.NotNull(job.CaughtUpAfter);

        var failing = new ScheduledJob(new CountingWork([1], failAfter: 1));
        var failure = await failing.RunAsync(untilIdle: null, CancellationToken.None);
        Assert.IsType<IOException>(failure);
    }

    private sealed class CountingWork(int[] written, int failAfter = int.MaxValue) : IScheduledWork
    {
        private long _rows;

        public int Cycles { get; private set; }

        public string Name => "counting";

        public string Description => "counts";

        public TimeSpan Interval => TimeSpan.Zero;

        public long RowsWritten => _rows;

        public IReadOnlyList<(string Table, WriterCounters Counters)> Sinks => [];

        public Task<int> RunCycleAsync(CancellationToken cancellationToken)
        {
            if (Cycles == failAfter)
            {
                throw new IOException("ClickHouse is gone");
            }

            var rows = written[Math.Min(Cycles++, written.Length - 1)];
            _rows += rows;
            return Task.FromResult(rows);
        }
    }

    private sealed class FakeJob(string name) : IRunningJob
    {
        public Exception? FailWith { get; init; }

        public Exception? DrainFails { get; init; }

        public TaskCompletionSource? DrainBlocks { get; init; }

        public ManualResetEventSlim? DrainBlocksThread { get; init; }

        public TaskCompletionSource Running { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool WasStopped { get; private set; }

        public int Drains { get; private set; }

        public string Name => name;

        public string Description => name;

        public PipelineStatus Status => default;

        public JobTelemetry Telemetry => JobTelemetry.None;

        public TimeSpan? CaughtUpAfter => null;

        public async Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping)
        {
            Running.SetResult();
            if (FailWith is not null)
            {
                await Task.Yield();
                return FailWith;
            }

            try
            {
                await Task.Delay(Timeout.Infinite, stopping);
            }
            catch (OperationCanceledException)
            {
                WasStopped = true;
            }

            return null;
        }

        public async ValueTask DisposeAsync()
        {
            Drains++;
            DrainBlocksThread?.Wait(); // synchronously, as a drain stuck in a native call
            if (DrainBlocks is not null)
            {
                await DrainBlocks.Task;
            }

            if (DrainFails is not null)
            {
                throw DrainFails;
            }
        }
    }
}
