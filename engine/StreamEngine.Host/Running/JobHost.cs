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
        });
        var outcomes = new Outcomes(jobs.Count);
        foreach (var job in jobs)
        {
            builder.Services.AddSingleton<IHostedService>(services => new JobService(job, options, outcomes, services.GetRequiredService<IHostApplicationLifetime>()));
        }

        using var host = builder.Build();
        await host.RunAsync(stopping);
        return outcomes.Combined;
    }

    /// <summary>One job as a hosted service: it runs until the host stops (then drains) or it ends by itself.</summary>
    private sealed class JobService(IRunningJob job, JobRunOptions options, Outcomes outcomes, IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            // Off the host's start-up path: the host starts every service before any runs.
            var outcome = await Task.Run(() => JobRunner.RunAsync([job], options, stoppingToken), CancellationToken.None);
            if (outcomes.Record(job.Name, outcome) || !outcome.Succeeded)
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

        /// <summary>Records a job's outcome; true once every job has one.</summary>
        public bool Record(string job, JobRunOutcome outcome)
        {
            lock (_lock)
            {
                _done.Add((job, outcome));
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
