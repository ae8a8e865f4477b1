using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using StreamEngine.Host.Live;
using StreamEngine.Host.Running;

namespace StreamEngine.Host.Observability;

/// <summary>
/// The engine's own HTTP port (<c>http.port</c>, default 5000, loopback): <c>/metrics</c> in Prometheus' text format
/// (the <see cref="EngineMetrics"/> meter, exported by prometheus-net), <c>/healthz</c> (the process is alive) and
/// <c>/readyz</c> (every job is running and has caught up once), the SignalR hub at <c>/hubs/metrics</c> (JSON and
/// MessagePack; see <see cref="MetricsHub"/>) and the ad-ops dashboard at <c>/</c>. Started before the jobs, so they can send to <see cref="Fanout"/>.
/// </summary>
public sealed class EngineHttpHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EngineHttpHost(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    /// <summary>Live values for the hub's clients.</summary>
    public HubFanout Fanout { get; private set; } = null!;

    /// <param name="port">The port (0: any free one).</param>
    /// <param name="jobs">The running jobs, asked at each request (they start after this host).</param>
    public static async Task<EngineHttpHost> StartAsync(int port, Func<IReadOnlyList<(string Job, IJobPipeline Pipeline)>> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        builder.Services.AddSignalR().AddMessagePackProtocol();
        builder.Services.AddSingleton(new HubFanoutOptions());
        builder.Services.AddSingleton<HubFanout>();
        var app = builder.Build();
        app.MapHub<MetricsHub>("/hubs/metrics");
        // The dashboard: static files next to the engine (wwwroot; its libraries are copied there by the set-up).
        var web = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = web });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = web });
        // Only the engine's meter: the exposition stays the engine's metrics, not every library's.
        var registry = Metrics.NewCustomRegistry();
        var bridge = new PrometheusBridge(EngineMetrics.MeterName, registry);
        app.MapMetrics("/metrics", registry);
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () =>
        {
            var running = jobs();
            var waiting = running.Where(j => j.Pipeline.CaughtUpAfter is null).Select(j => j.Job).ToList();
            return running.Count > 0 && waiting.Count == 0
                ? Results.Text("ready\n")
                : Results.Text($"not ready: {(running.Count == 0 ? "no job running yet" : string.Join(", ", waiting) + " not caught up yet")}\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.Lifetime.ApplicationStopped.Register(bridge.Dispose);
        await app.StartAsync(cancellationToken);
        var address = app.Urls.Select(u => new Uri(u)).First();
        return new EngineHttpHost(app) { Url = new Uri($"http://127.0.0.1:{address.Port}/"), Fanout = app.Services.GetRequiredService<HubFanout>() };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
