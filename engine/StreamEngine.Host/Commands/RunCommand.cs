using System.CommandLine;
using System.Runtime.InteropServices;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Host.Cli;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;
using StreamEngine.Runtime;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine run --job NAME</c>: a job from Kafka to ClickHouse, exactly once (see <see cref="StreamingJob{TEvent,TKey,TResult}"/>),
/// serving ClickHouse's HTTP interface over the store meanwhile. <c>--until-idle S</c> exits 0 once no message has
/// arrived for S seconds and everything is flushed.
/// </summary>
public static class RunCommand
{
    /// <summary>What <c>run</c> was asked: the job, where it comes from, configuration, and when to stop.</summary>
    public sealed record Request(string? Job, string? Assembly, IReadOnlyList<string> Set, string? Config, int? UntilIdleSeconds);

    public static Command Create()
    {
        var job = CliOptions.Text("--job", "the job to run (required; streamengine jobs list shows them)", "NAME");
        var assembly = CliOptions.Text("--assembly", "a job author's assembly to load the job from", "DLL");
        var config = CliOptions.Config();
        var set = CliOptions.Set();
        var untilIdle = CliOptions.OptionalWholeNumber("run", "--until-idle",
            "exit 0 once every assigned partition has been caught up and idle this many seconds and all results are flushed (1..86400)", 1, 86_400);
        var command = new Command("run", "run a job from Kafka to ClickHouse (embedded or server), exactly once") { job, assembly, config, set, untilIdle };
        command.SetAction((parse, _) => RunAsync(
            new Request(parse.GetValue(job), parse.GetValue(assembly), parse.GetValue(set) ?? [], parse.GetValue(config), parse.GetValue(untilIdle)), Console.Out));
        return command;
    }

    public static async Task<int> RunAsync(Request request, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        var jobName = request.Job ?? throw new UsageException("run: --job is required (streamengine jobs list shows them)");
        var jobs = request.Assembly is { } assembly ? JobCatalog.FromAssembly(assembly) : null;
        if (jobName != DynamicPricing.Name || jobs is not null)
        {
            JobCatalog.Find(jobName, jobs); // an unknown job stops here, before anything starts
        }
        var untilIdle = request.UntilIdleSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : (TimeSpan?)null;
        var settings = EngineSettings.Load(request.Set, configFile: request.Config);
        var log = settings.Log;
        if (settings.Kafka.Bootstrap.Length == 0 && !(jobName == DynamicPricing.Name && jobs is null))
        {
            throw new UsageException("run: configuration key 'kafka.bootstrap' is required (the Kafka bootstrap servers)");
        }

        using var stopping = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        // Embedded: chDB in this process, served over ClickHouse's HTTP interface. Server: a ClickHouse server over HTTP(S).
        var target = settings.ClickHouse;
        using var clickHouse = target.Embedded ? EmbeddedClickHouse.Connect(target.EmbeddedOptions) : null;
        await using var endpoint = clickHouse is null ? null : await ClickHouseHttpEndpoint.StartAsync(clickHouse, settings.ClickHouseHttpOptions(target.Path), stopping.Token);
        await using IClickHouseStore store = clickHouse is not null
            ? new EmbeddedStore(clickHouse, ownsConnection: false)
            : new ServerStore(new ServerStoreOptions
            {
                Url = target.Url,
                User = target.User,
                Password = target.Password,
                SkipCertificateValidation = target.AcceptInvalidCertificate,
            });
        await using var services = await EngineServices.StartAsync(settings, settings.HttpOptions with { SinkProbe = ct => store.QueryAsync("SELECT 1", ct), Results = settings.ResultsApiOptions(store) }, stopping.Token);
        using var tracing = EngineTracing.Start(settings["tracing.otlp_endpoint"] is { Length: > 0 } otlp ? new Uri(otlp) : null, settings.Number("tracing.sample_ratio"),
            $"{Environment.MachineName}/{Environment.ProcessId}");
        var pipeline = await JobCatalog.StartAsync(jobName, jobs, settings, store, log, stopping.Token, services.Live);
        services.Add(pipeline);
        await output.WriteLineAsync($"streamengine run: {pipeline.Description}" + (endpoint is null ? "" : $"; ClickHouse HTTP at {endpoint.Url}") +
                                    $"; metrics at {services.Http.Url}metrics; SignalR hub at {services.Http.Url}hubs/metrics" +
                                    (services.Nats is null ? "" : $"; live metrics to NATS at {settings["nats.url"]}"));
        await output.FlushAsync();

        // The Generic Host runs it (a hosted service; SIGTERM and SIGINT through the host's lifetime) and the runtime
        // drains it once it stops (a signal, --until-idle, a failure): the last checkpoint, then the source leaves the
        // group, so its partitions move at once; shutdown.timeout bounds the drain after a signal. (The signal handlers
        // above cover the start-up, before the host takes over.)
        var shutdownTimeout = settings.Duration("shutdown.timeout");
        var outcome = await JobHost.RunAsync(services.Jobs, new JobRunOptions { UntilIdle = untilIdle, ShutdownTimeout = shutdownTimeout }, stopping.Token);
        if (outcome.DrainTimedOut)
        {
            await Console.Error.WriteLineAsync($"streamengine: job {jobName} did not drain within shutdown.timeout ({shutdownTimeout.TotalSeconds:F0} s); " +
                                               "results not yet stored are replayed from the last checkpoint by the partitions' next owner");
            return 1;
        }

        var status = pipeline.Status;
        if (outcome.Failure is { } failure)
        {
            await Console.Error.WriteLineAsync($"streamengine: job {jobName} stopped: {failure.Message}");
            return 1;
        }

        await output.WriteLineAsync($"streamengine run: stopped; {status.MessagesIn:N0} messages read, {status.Events:N0} events, " +
                                    $"{status.DeadLettered:N0} dead-lettered, {status.Late:N0} late, {status.ResultRows:N0} result rows written" +
                                    (status.FailedWrites > 0 ? $" ({status.FailedWrites:N0} failed write attempts retried)" : ""));
        return 0;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stopping.Cancel();
        }
    }
}
