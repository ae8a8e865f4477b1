using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;
using StreamEngine.Host.Dashboard;
using StreamEngine.Host.Live;
using StreamEngine.Host.Running;
using StreamEngine.Host.Security;
using StreamEngine.Runtime;

namespace StreamEngine.Host.Observability;

/// <summary>
/// The engine's own HTTP port (<c>http.port</c>, default 5000, loopback): <c>/metrics</c> in Prometheus' text format
/// (the <see cref="EngineMetrics"/> meter, exported by prometheus-net), <c>/healthz</c> (the process is alive) and
/// <c>/readyz</c> (every job is running and has caught up once), the SignalR hub at <c>/hubs/metrics</c> (JSON and
/// MessagePack; see <see cref="MetricsHub"/>), the read API at <c>/api/v1</c> (<see cref="ResultsApi"/>) and the ad-ops dashboard at <c>/</c>. Started before the jobs, so they can send to <see cref="Fanout"/>.
/// </summary>
/// <summary>The engine's HTTP port: where it listens and the key its hub asks for.</summary>
public sealed record EngineHttpOptions
{
    /// <summary>The port (<c>http.port</c>; 0: any free one).</summary>
    public int Port { get; init; } = 5000;

    /// <summary>The address (<c>http.host</c>); beyond loopback only with an <see cref="ApiKey"/>.</summary>
    public IPAddress Host { get; init; } = IPAddress.Loopback;

    /// <summary>The key the hub asks for (<c>http.api_key</c>: X-Api-Key, a Bearer token, or <c>?access_token=</c>); null: none.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Consumer lag (messages, summed over a job's partitions) above which <c>/readyz</c> fails (<c>health.max_lag</c>).</summary>
    public long MaxReadyLag { get; init; } = 100_000;

    /// <summary>Browser origins besides the engine's own pages allowed to use this port (<c>http.allowed_origins</c>).</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>Serve HTTPS with this certificate (<c>http.tls.certificate</c> and <c>.key</c>), or plain HTTP.</summary>
    public TlsCertificateFiles? Tls { get; init; }

    /// <summary>How patient the hub is with slow clients.</summary>
    public HubFanoutOptions Fanout { get; init; } = new();

    /// <summary>Asks the ClickHouse sink whether it answers (<c>SELECT 1</c>); null: not checked.</summary>
    public Func<CancellationToken, Task>? SinkProbe { get; init; }

    /// <summary>The dashboard's read API over the stored results (<c>/api/v1/...</c>).</summary>
    public ResultsApiOptions Results { get; init; } = new();
}

public sealed class EngineHttpHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EngineHttpHost(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    /// <summary>Live values for the hub's clients.</summary>
    public HubFanout Fanout { get; private set; } = null!;

    /// <param name="options">Port, address and API key.</param>
    /// <param name="jobs">The running jobs, asked at each request (they start after this host).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<EngineHttpHost> StartAsync(EngineHttpOptions options, Func<IReadOnlyList<IRunningJob>> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(jobs);
        var (port, host, apiKey) = (options.Port, options.Host, options.ApiKey);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var certificate = options.Tls is { } tls ? TlsCertificates.Load(tls, "http.tls") : null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(host, port, listen =>
        {
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }
        }));
        builder.Services.AddSignalR().AddMessagePackProtocol();
        builder.Services.AddSingleton(options.Fanout);
        builder.Services.AddSingleton<HubFanout>();
        var app = builder.Build();
        // Cross-site use through a browser: the dashboard is the port's own page; other origins only when allowed.
        var allowedOrigins = options.AllowedOrigins;
        var loopbackOnly = IPAddress.IsLoopback(host);
        app.Use(async (context, next) =>
        {
            if (CrossSiteRequests.Refusal(context.Request, allowedOrigins, loopbackOnly, sameOriginAllowed: true) is { } refusal)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync($"{refusal} (http.allowed_origins)\n");
                return;
            }

            await next();
        });
        if (apiKey is not null)
        {
            app.Use(async (context, next) =>
            {
                // The live values and the stored results are for the people the key is given to.
                if ((context.Request.Path.StartsWithSegments("/hubs", StringComparison.OrdinalIgnoreCase) || context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
                    && !HasKey(context.Request, apiKey))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    await context.Response.WriteAsync("an API key is required (X-Api-Key, a Bearer token or ?access_token=)\n");
                    return;
                }

                await next();
            });
        }

        app.MapHub<MetricsHub>("/hubs/metrics");
        var results = app.MapResultsApi(options.Results);
        app.Lifetime.ApplicationStopped.Register(results.Dispose);
        // The dashboard: static files next to the engine (wwwroot; its libraries are copied there by the set-up).
        var web = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = web });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = web });
        // Only the engine's meter: the exposition stays the engine's metrics, not every library's.
        var registry = Metrics.NewCustomRegistry();
        var bridge = new PrometheusBridge(StreamEngine.Core.Telemetry.EngineTelemetry.Name, registry);
        app.MapMetrics("/metrics", registry);
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", async (CancellationToken requestAborted) =>
        {
            var problems = await Readiness.ProblemsAsync(jobs(), options, requestAborted);
            return problems.Count == 0
                ? Results.Text("ready\n")
                : Results.Text($"not ready: {string.Join("; ", problems)}\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.Lifetime.ApplicationStopped.Register(bridge.Dispose);
        await app.StartAsync(cancellationToken);
        var address = app.Urls.Select(u => new Uri(u)).First();
        var shown = IPAddress.IsLoopback(host) || host.Equals(IPAddress.Any) ? "127.0.0.1" : host.ToString();
        return new EngineHttpHost(app) { Url = new Uri($"{(certificate is null ? "http" : "https")}://{shown}:{address.Port}/"), Fanout = app.Services.GetRequiredService<HubFanout>() };
    }

    /// <summary>The key as a header, a Bearer token, or the access_token query value browsers use for WebSockets; compared in constant time.</summary>
    private static bool HasKey(HttpRequest request, string apiKey)
    {
        var offered = request.Headers["X-Api-Key"].FirstOrDefault()
                      ?? (request.Headers.Authorization.FirstOrDefault() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..] : null)
                      ?? request.Query["access_token"].FirstOrDefault();
        return offered is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(offered), System.Text.Encoding.UTF8.GetBytes(apiKey));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
