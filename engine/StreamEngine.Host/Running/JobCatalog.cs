using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;
using StreamEngine.Jobs;

namespace StreamEngine.Host.Running;

/// <summary>The jobs this build can run (<c>streamengine jobs list</c>), and starting one by name.</summary>
public static class JobCatalog
{
    public static IReadOnlyList<IAdJob> BuiltIn { get; } = [new AdMetricsJob(), new BidLandscapeJob()];

    /// <summary>The job called <paramref name="name"/>; a usage error naming the known ones otherwise.</summary>
    public static IAdJob Find(string name, IReadOnlyList<IAdJob>? jobs = null)
    {
        jobs ??= BuiltIn;
        return jobs.FirstOrDefault(j => j.Name == name)
               ?? throw new UsageException($"run: unknown job '{name}' (known: {string.Join(", ", jobs.Select(j => j.Name))}; see streamengine jobs list)");
    }

    /// <summary>Starts the job's pipeline (see <see cref="JobPipeline.StartAsync{TKey,TResult}"/>).</summary>
    public static Task<IJobPipeline> StartAsync(IAdJob job, EngineSettings settings, IClickHouseStore store, Action<string> log, bool forgetPositions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        return job.Accept(new Starter(settings, store, log, forgetPositions, cancellationToken));
    }

    private sealed class Starter(EngineSettings settings, IClickHouseStore store, Action<string> log, bool forgetPositions, CancellationToken cancellationToken)
        : IAdJobVisitor<Task<IJobPipeline>>
    {
        public async Task<IJobPipeline> Visit<TKey, TResult>(AdJob<TKey, TResult> job)
            where TKey : notnull =>
            await JobPipeline.StartAsync(job, settings, store, log, forgetPositions, cancellationToken);
    }
}
