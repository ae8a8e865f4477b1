using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Jobs;
using StreamEngine.Jobs.ClickHouse;
using StreamEngine.Runtime;

namespace StreamEngine.Host.Running;

/// <summary>The jobs this build can run (<c>streamengine jobs list</c>), and starting one by name.</summary>
public static class JobCatalog
{
    public static IReadOnlyList<IAdJob> BuiltIn { get; } = [new AdMetricsJob(), new BidLandscapeJob()];

    /// <summary>Every built-in job by name and summary: the Kafka jobs, and <c>dynamic-pricing</c>, which reads what they store.</summary>
    public static IReadOnlyList<(string Name, string Summary)> Summaries { get; } =
        [.. BuiltIn.Select(j => (j.Name, j.Summary)), (DynamicPricing.Name, DynamicPricing.Summary)];

    /// <summary>
    /// The jobs in a job author's assembly (<c>--assembly PATH.dll</c>): its public, non-abstract classes that derive
    /// from <see cref="AdJob{TKey,TResult}"/> and have a parameterless constructor. The assembly references the
    /// engine's core, which resolves to the host's own copy.
    /// </summary>
    public static IReadOnlyList<IAdJob> FromAssembly(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new UsageException($"run: --assembly '{path}': no such file");
        }

        // The job's own dependencies (its NuGet packages) resolve from its folder and .deps.json; the engine's
        // assemblies (the core, Arrow, Rx) are already loaded and shared.
        var dependencies = new System.Runtime.Loader.AssemblyDependencyResolver(full);
        System.Runtime.Loader.AssemblyLoadContext.Default.Resolving += (context, name) =>
            dependencies.ResolveAssemblyToPath(name) is { } dependency ? context.LoadFromAssemblyPath(dependency) : null;
        System.Reflection.Assembly assembly;
        try
        {
            assembly = System.Runtime.Loader.AssemblyLoadContext.Default.LoadFromAssemblyPath(full);
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException)
        {
            throw new UsageException($"run: --assembly '{path}' is not a .NET assembly this host can load: {e.Message}");
        }

        Type[] types;
        try
        {
            types = assembly.GetExportedTypes();
        }
        catch (Exception e) when (e is System.Reflection.ReflectionTypeLoadException or FileNotFoundException or TypeLoadException)
        {
            throw new UsageException($"run: --assembly '{path}': its types do not load in this engine: {e.Message}");
        }

        var jobs = types
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IAdJob).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (IAdJob)Activator.CreateInstance(t)!)
            .ToList();
        return jobs.Count > 0
            ? jobs
            : throw new UsageException($"run: --assembly '{path}' holds no job (a public class deriving from AdJob<TKey, TResult> with a parameterless constructor)");
    }

    /// <summary>The job called <paramref name="name"/>; a usage error naming the known ones otherwise.</summary>
    public static IAdJob Find(string name, IReadOnlyList<IAdJob>? jobs = null)
    {
        var known = jobs?.Select(j => j.Name) ?? Summaries.Select(j => j.Name);
        return (jobs ?? BuiltIn).FirstOrDefault(j => j.Name == name)
               ?? throw new UsageException($"run: unknown job '{name}' (known: {string.Join(", ", known)}; see streamengine jobs list)");
    }

    /// <summary>Starts the job called <paramref name="name"/> (one of <paramref name="jobs"/>, or a built-in one).</summary>
    public static async Task<IRunningJob> StartAsync(
        string name, IReadOnlyList<IAdJob>? jobs, EngineSettings settings, IClickHouseStore store, EngineLog log, CancellationToken cancellationToken, ILiveSink? live = null) =>
        jobs is null && name == DynamicPricing.Name
            ? new ScheduledJob(await DynamicPricingWork.StartAsync(settings.DynamicPricingOptions, store, log.ForJob(DynamicPricing.Name), cancellationToken, live: live))
            : await StartAsync(Find(name, jobs), settings, store, log, forgetPositions: false, cancellationToken, live);

    /// <summary>Starts the job's pipeline (see <see cref="JobPipeline.StartAsync{TKey,TResult}"/>).</summary>
    public static Task<IRunningJob> StartAsync(
        IAdJob job, EngineSettings settings, IClickHouseStore store, EngineLog log, bool forgetPositions, CancellationToken cancellationToken, ILiveSink? live = null)
    {
        ArgumentNullException.ThrowIfNull(job);
        return job.Accept(new Starter(settings, store, log, forgetPositions, live, cancellationToken));
    }

    private sealed class Starter(EngineSettings settings, IClickHouseStore store, EngineLog log, bool forgetPositions, ILiveSink? live, CancellationToken cancellationToken)
        : IAdJobVisitor<Task<IRunningJob>>
    {
        public async Task<IRunningJob> Visit<TKey, TResult>(AdJob<TKey, TResult> job)
            where TKey : notnull =>
            await JobPipeline.StartAsync(job, settings, store, log, forgetPositions, cancellationToken, live);
    }
}
