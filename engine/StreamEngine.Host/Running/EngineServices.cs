using StreamEngine.Core.Dsl;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Live;
using StreamEngine.Host.Observability;
using StreamEngine.Nats;
using StreamEngine.Runtime;

namespace StreamEngine.Host.Running;

/// <summary>
/// What <c>run</c> and <c>demo</c> both start around their jobs, the same way: the HTTP host (metrics, health, the
/// SignalR hub), the NATS publisher and the hub's feed from NATS (every engine's values) when <c>nats.url</c> is set, the live sinks the jobs offer their values to, and
/// the metrics over the jobs. Jobs <see cref="Add"/>ed after the start are served and measured too.
/// </summary>
public sealed class EngineServices : IAsyncDisposable
{
    private readonly EngineMetrics _metrics;
    private readonly Lock _adding = new();
    private volatile IRunningJob[] _jobs = [];
    private readonly NatsHubFeed? _hubFeed;

    private EngineServices(EngineHttpHost http, LivePublisher? nats, NatsHubFeed? hubFeed)
    {
        Http = http;
        Nats = nats;
        _hubFeed = hubFeed;
        Live = new LiveSinks([.. nats is null ? Array.Empty<ILiveSink>() : [nats], http.Fanout]);
        _metrics = new EngineMetrics(() => _jobs, http.Fanout, nats);
    }

    /// <summary>The jobs started so far, as the HTTP host and the metrics see them (a snapshot: scrapes may run while jobs start).</summary>
    public IReadOnlyList<IRunningJob> Jobs => _jobs;

    public EngineHttpHost Http { get; }

    /// <summary>The NATS publisher, or null when NATS is off.</summary>
    public LivePublisher? Nats { get; }

    /// <summary>Where jobs offer live values: NATS (when on) and the hub.</summary>
    public ILiveSink Live { get; }

    /// <summary>Serves and measures one more job.</summary>
    public void Add(IRunningJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        lock (_adding)
        {
            _jobs = [.. _jobs, job];
        }
    }

    public static async Task<EngineServices> StartAsync(EngineSettings settings, EngineHttpOptions httpOptions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(httpOptions);
        EngineServices? services = null;
        var http = await EngineHttpHost.StartAsync(httpOptions, () => services?.Jobs ?? [], cancellationToken);
        try
        {
            // With NATS, the hub also takes every engine's values from it: each dashboard shows every partition's.
            services = settings.NatsOptions is { } nats
                ? new EngineServices(http, new LivePublisher(nats), new NatsHubFeed(nats, http.Fanout))
                : new EngineServices(http, null, null);
            return services;
        }
        catch
        {
            await http.DisposeAsync(); // the port is bound: release it with the failure
            throw;
        }
    }

    /// <summary>The metrics stop first, then NATS sends what is left, then the HTTP host stops.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            _metrics.Dispose();
            if (_hubFeed is not null)
            {
                await _hubFeed.DisposeAsync();
            }

            if (Nats is not null)
            {
                await Nats.DisposeAsync();
            }
        }
        finally
        {
            await Http.DisposeAsync();
        }
    }
}
