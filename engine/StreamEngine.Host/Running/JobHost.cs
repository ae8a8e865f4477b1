using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using StreamEngine.Runtime;

namespace StreamEngine.Host.Running;

/// <summary>
/// Runs a process's jobs under the .NET Generic Host, as .NET services and Kubernetes tooling expect: each job a hosted
/// service, and the host's console lifetime taking SIGTERM and SIGINT. A stop (a signal, <c>stopping</c>, a job's
/// failure, or every job done with <see cref="JobRunOptions.UntilIdle"/>) stops the host, and each job drains through
/// the runtime's <see cref="JobRunner"/> within <see cref="JobRunOptions.ShutdownTimeout"/> (the host waits a little
/// longer, so the runner's bound is the one that holds). One job failing stops the others: a process runs its jobs
/// together or not at all.
/// </summary>
public static class JobHost
{
    /// <summary>What the host adds to the drain's bound before it stops waiting for a job (the runner reports first).</summary>
    private static readonly TimeSpan HostMargin = TimeSpan.FromSeconds(5);

    public static async Task<JobRunOutcome> RunAsync(IReadOnlyList<IRunningJob> jobs, JobRunOptions options, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(options);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
        // The engine logs through its own log (secrets masked, the JSON the docs describe); the host adds nothing to it.
        builder.Logging.ClearProviders();
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton<IHostLifetime, ConsoleLifetime>();
        builder.Services.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = options.ShutdownTimeout + HostMargin;
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
            // Every job is told to stop at once and drains beside the others, as one process's jobs must (the host
            // would otherwise stop them one after another, each within what the one before left of the bound).
            o.ServicesStartConcurrently = true;
            o.ServicesStopConcurrently = true;
        });
        var outcomes = new Outcomes(jobs.Count);
        foreach (var job in jobs)
        {
            builder.Services.AddSingleton<IHostedService>(services => new JobService(job, options, outcomes, services.GetRequiredService<IHostApplicationLifetime>()));
        }

        using var host = builder.Build();
        // The caller's stop is passed on once the host has started (at once if it came before): a stop before the start
        // still starts and drains every job, rather than failing the start with a cancelled token.
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        CancellationTokenRegistration onStop = default;
        using var onStarted = lifetime.ApplicationStarted.Register(() => onStop = stopping.Register(lifetime.StopApplication));
        try
        {
            await host.RunAsync(CancellationToken.None);
        }
        finally
        {
            await onStop.DisposeAsync();
        }

        // A stop that came before the host started may stop a service before its job ever ran (BackgroundService does
        // not start a service whose token is cancelled already): such jobs are drained here, so every job is drained once.
        var neverRan = jobs.Where(job => !outcomes.Ran(job)).ToList();
        if (neverRan.Count > 0)
        {
            var drained = await JobRunner.RunAsync(neverRan, options, new CancellationToken(canceled: true));
            foreach (var job in neverRan)
            {
                outcomes.Record(job, drained.FailedJob == job.Name ? drained : drained with { Failure = null, FailedJob = null });
            }
        }

        return outcomes.Combined;
    }

    /// <summary>One job as a hosted service: it runs until the host stops (then drains) or it ends by itself.</summary>
    private sealed class JobService(IRunningJob job, JobRunOptions options, Outcomes outcomes, IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            outcomes.Running(job);
            // Off the host's start-up path: the host starts every service before any runs.
            var outcome = await Task.Run(() => JobRunner.RunAsync([job], options, stoppingToken), CancellationToken.None);
            if (outcomes.Record(job, outcome) || !outcome.Succeeded)
            {
                lifetime.StopApplication();
            }
        }
    }

    /// <summary>The jobs' outcomes as one: the first failure, and whether any drain outlasted its bound.</summary>
    private sealed class Outcomes(int jobs)
    {
        private readonly Lock _lock = new();
        private readonly List<(string Job, JobRunOutcome Outcome)> _done = [];
        private readonly HashSet<IRunningJob> _ran = [];

        /// <summary>Notes that a job's service started running it.</summary>
        public void Running(IRunningJob job)
        {
            lock (_lock)
            {
                _ran.Add(job);
            }
        }

        public bool Ran(IRunningJob job)
        {
            lock (_lock)
            {
                return _ran.Contains(job);
            }
        }

        /// <summary>Records a job's outcome; true once every job has one.</summary>
        public bool Record(IRunningJob job, JobRunOutcome outcome)
        {
            lock (_lock)
            {
                _ran.Add(job);
                _done.Add((job.Name, outcome));
                return _done.Count == jobs;
            }
        }

        public JobRunOutcome Combined
        {
            get
            {
                lock (_lock)
                {
                    var failed = _done.FirstOrDefault(d => d.Outcome.Failure is not null);
                    // A job the host stopped waiting for never recorded: its drain did not finish in time.
                    var timedOut = _done.Count < jobs || _done.Any(d => d.Outcome.DrainTimedOut);
                    return new JobRunOutcome(failed.Outcome?.Failure, failed.Outcome?.FailedJob ?? (failed.Outcome is null ? null : failed.Job), timedOut);
                }
            }
        }
    }
}
