using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;
using StreamEngine.Host.Running;

namespace StreamEngine.Host.Observability;

/// <summary>
/// The engine's own HTTP port (<c>http.port</c>, default 5000, loopback): <c>/metrics</c> in Prometheus' text format
/// (the <see cref="EngineMetrics"/> meter, exported by prometheus-net), <c>/healthz</c> (the process is alive) and
/// <c>/readyz</c> (every job is running and has caught up once). The dashboard and the SignalR hub join it later.
/// </summary>
public sealed class EngineHttpHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EngineHttpHost(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    public static async Task<EngineHttpHost> StartAsync(int port, IReadOnlyList<(string Job, IJobPipeline Pipeline)> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        // Only the engine's meter: the exposition stays the engine's metrics, not every library's.
        var registry = Metrics.NewCustomRegistry();
        var bridge = new PrometheusBridge(EngineMetrics.MeterName, registry);
        app.MapMetrics("/metrics", registry);
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () =>
        {
            var waiting = jobs.Where(j => j.Pipeline.CaughtUpAfter is null).Select(j => j.Job).ToList();
            return waiting.Count == 0
                ? Results.Text("ready\n")
                : Results.Text($"not ready: {string.Join(", ", waiting)} not caught up yet\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.Lifetime.ApplicationStopped.Register(bridge.Dispose);
        await app.StartAsync(cancellationToken);
        var address = app.Urls.Select(u => new Uri(u)).First();
        return new EngineHttpHost(app) { Url = new Uri($"http://127.0.0.1:{address.Port}/") };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
