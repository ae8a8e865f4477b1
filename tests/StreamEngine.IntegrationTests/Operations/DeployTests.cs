using System.Collections;
using System.Text.Json;
using System.Text.RegularExpressions;
using Prometheus;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Telemetry;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;
using StreamEngine.Runtime;
using StreamEngine.TestUtilities;
using YamlDotNet.RepresentationModel;

namespace StreamEngine.IntegrationTests.Operations;

/// <summary>
/// deploy/ stays true to the code: every file parses; the engines' configuration (compose's engine.yaml, the
/// Kubernetes ConfigMap, the STREAMENGINE__ variables) loads through the engine's own validation; every metric a
/// Grafana panel or alert asks for is one the engine exports; every ClickHouse panel's SQL runs on the jobs' schema;
/// the probes, ports and grace period agree with the configuration; docker-compose and promtool accept their files.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed partial class DeployTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly string Deploy = Path.Combine(RepositoryRoot.Path, "deploy");

    /// <summary>The files whose PromQL names the engine's metrics.</summary>
    private static readonly string[] PrometheusQueries = ["grafana/streamengine-operations.json", "compose/alerts.yml"];

    [Fact]
    public void Every_YAML_and_JSON_file_parses()
    {
        var files = Directory.EnumerateFiles(Deploy, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal)).ToList();
        Assert.True(files.Count >= 12, string.Join(", ", files));
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            var error = Record.Exception(() =>
            {
                if (file.EndsWith(".json", StringComparison.Ordinal))
                {
                    JsonDocument.Parse(text).Dispose();
                }
                else
                {
                    new YamlStream().Load(new StringReader(text));
                }
            });
            Assert.True(error is null, $"{file}: {error?.Message}");
        }
    }

    [Fact]
    public void The_engines_configuration_in_compose_and_Kubernetes_passes_the_engine_s_validation()
    {
        using var folder = new TemporaryDirectory("streamengine-deploy");
        var configMap = Documents("k8s/configmap.yaml").Single();
        var fromConfigMap = folder.File("engine.yaml");
        File.WriteAllText(fromConfigMap, Scalar(configMap, "data", "engine.yaml"));
        var environment = EngineVariables();
        Assert.Contains("STREAMENGINE__HTTP__API_KEY", environment.Keys);

        foreach (var file in new[] { Path.Combine(Deploy, "compose", "engine.yaml"), fromConfigMap })
        {
            var settings = EngineSettings.Load([], new Hashtable(environment), file);
            Assert.Equal("server", settings["clickhouse.mode"]);
            Assert.Equal("0.0.0.0", settings["http.host"]);
            Assert.NotNull(settings.HttpOptions); // beyond loopback, so the key must be there
            Assert.Equal("5000", settings["http.port"]);
        }
    }

    [Fact]
    public void Probes_ports_and_grace_period_agree_with_the_engine()
    {
        var settings = EngineSettings.Load([], new Hashtable(), Path.Combine(Deploy, "compose", "engine.yaml"));
        var deployments = Documents("k8s/deployment.yaml").ToList();
        Assert.Equal(3, deployments.Count);
        foreach (var deployment in deployments)
        {
            var pod = Node(deployment, "spec", "template", "spec");
            var container = (YamlMappingNode)((YamlSequenceNode)pod.Children["containers"]).Children.Single();
            Assert.Equal("/healthz", Scalar(container, "livenessProbe", "httpGet", "path"));
            Assert.Equal("/readyz", Scalar(container, "readinessProbe", "httpGet", "path"));
            var port = (YamlMappingNode)((YamlSequenceNode)container.Children["ports"]).Children.Single();
            Assert.Equal(settings["http.port"], Scalar(port, "containerPort"));
            // The kubelet's SIGKILL must come after the engine's own drain timeout.
            Assert.True(int.Parse(Scalar(pod, "terminationGracePeriodSeconds"), System.Globalization.CultureInfo.InvariantCulture) > settings.Duration("shutdown.timeout").TotalSeconds);
            Assert.Contains("run", ((YamlSequenceNode)container.Children["args"]).Children.Select(a => a.ToString()));
        }
    }

    [Fact]
    public void Every_metric_the_dashboards_and_alerts_use_is_exported()
    {
        var exported = ExportedMetricNames();
        var used = PrometheusQueries
            .SelectMany(f => MetricName().Matches(File.ReadAllText(Path.Combine(Deploy, f))).Select(m => m.Value))
            .Select(name => Regex.Replace(name, "_(bucket|sum|count)$", ""))
            .ToHashSet();
        Assert.True(used.Count >= 15, string.Join(", ", used));
        Assert.Empty(used.Except(exported));
    }

    [Fact]
    public async Task Every_ClickHouse_panel_s_SQL_runs_on_the_jobs_schema()
    {
        var database = clickHouse.CreateDatabase("grafana");
        var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        var migrator = new SchemaMigrator(store, database);
        await migrator.ApplyJobSchemaAsync(AdMetricsJob.JobName, new AdMetricsJob().ResultSchemas, RawEvents.Schema);
        await migrator.ApplyJobSchemaAsync(BidLandscapeJob.JobName, new BidLandscapeJob().ResultSchemas, []);
        await migrator.ApplyJobSchemaAsync(DynamicPricing.Name, [], DynamicPricing.Schema);

        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Deploy, "grafana", "streamengine-ad-metrics.json")));
        var queries = dashboard.RootElement.GetProperty("panels").EnumerateArray().SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("rawSql").GetString()!)
            .Append(dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "campaign").GetProperty("query").GetString()!)
            .ToList();
        Assert.True(queries.Count >= 7);
        foreach (var sql in queries)
        {
            // Grafana's macros and variables, as the ClickHouse plugin expands them.
            var expanded = TimeFilter().Replace(sql, m => $"{m.Groups[1].Value} >= now() - INTERVAL 1 HOUR AND {m.Groups[1].Value} <= now()")
                .Replace("$campaign", "'All'", StringComparison.Ordinal)
                .Replace("ads.", $"{database}.", StringComparison.Ordinal);
            var error = Record.Exception(() => clickHouse.Store.QueryText(expanded));
            Assert.True(error is null, $"{sql}\n{error?.Message}");
        }
    }

    [Fact]
    public async Task Docker_compose_and_promtool_accept_their_files()
    {
        var compose = await ChildProcess.RunAsync(RequiredTool.Find("docker-compose"), ["-f", Path.Combine(Deploy, "compose", "docker-compose.yml"), "config", "-q"],
            TimeSpan.FromMinutes(1), environment: new Dictionary<string, string> { ["STREAMENGINE_API_KEY"] = "0123456789abcdef-test" });
        Assert.True(compose.ExitCode == 0, compose.StandardError);
        var prometheus = await ChildProcess.RunAsync(RequiredTool.Find("promtool"), ["check", "config", Path.Combine(Deploy, "compose", "prometheus.yml")], TimeSpan.FromMinutes(1));
        Assert.True(prometheus.ExitCode == 0, prometheus.StandardOutput + prometheus.StandardError);
        Assert.Contains("5 rules found", prometheus.StandardOutput + prometheus.StandardError, StringComparison.Ordinal);
    }

    /// <summary>Metric names in /metrics: the engine's instruments exported through the host's bridge, with one job of each kind.</summary>
    private static HashSet<string> ExportedMetricNames()
    {
        var registry = Metrics.NewCustomRegistry();
        using var bridge = new PrometheusBridge(EngineTelemetry.Name, registry);
        var job = new ObservedJob();
        var nats = new StreamEngine.Nats.LivePublisher(new StreamEngine.Nats.LivePublisherOptions { Url = $"nats://127.0.0.1:{FreePort.Next()}" }); // never connects: only its counters
        using var metrics = new EngineMetrics(() => [job], fanout: null, nats: nats);
        var one = new KeyValuePair<string, object?>("job", "x");
        EngineTelemetry.EndToEndLatency.Record(1, one);
        EngineTelemetry.CheckpointDuration.Record(1, one);
        EngineTelemetry.SinkWriteDuration.Record(1, new KeyValuePair<string, object?>("table", "t"));
        using var text = new MemoryStream();
        registry.CollectAndExportAsTextAsync(text).GetAwaiter().GetResult();
        nats.DisposeAsync().AsTask().GetAwaiter().GetResult();
        var names = MetricName().Matches(System.Text.Encoding.UTF8.GetString(text.ToArray())).Select(m => Regex.Replace(m.Value, "_(bucket|sum|count)$", "")).ToHashSet();
        names.Add("streamengine_signalr_connections"); // exported when the hub runs (not in this probe)
        return names;
    }

    /// <summary>Every STREAMENGINE__ variable compose, Kubernetes and the Dockerfile set, with a valid stand-in for values taken from secrets.</summary>
    private static Dictionary<string, string> EngineVariables()
    {
        var variables = new Dictionary<string, string>();
        foreach (var file in new[] { "compose/docker-compose.yml", "k8s/deployment.yaml", "docker/Dockerfile" })
        {
            foreach (Match match in EngineVariable().Matches(File.ReadAllText(Path.Combine(Deploy, file))))
            {
                var value = match.Groups[2].Value.Trim();
                variables[match.Groups[1].Value] = value.Length == 0 || value.StartsWith('$') ? "a-secret-value-from-the-environment" : value;
            }
        }

        variables.Remove("STREAMENGINE__CLICKHOUSE__PATH"); // the image's data folder: a path inside the container
        return variables;
    }

    private static IEnumerable<YamlMappingNode> Documents(string file)
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(Path.Combine(Deploy, file))));
        return yaml.Documents.Select(d => (YamlMappingNode)d.RootNode);
    }

    private static YamlMappingNode Node(YamlMappingNode node, params string[] path) =>
        path.Aggregate(node, (current, key) => (YamlMappingNode)current.Children[new YamlScalarNode(key)]);

    private static string Scalar(YamlMappingNode node, params string[] path) =>
        ((YamlScalarNode)Node(node, path[..^1]).Children[new YamlScalarNode(path[^1])]).Value!;

    /// <summary>A job whose telemetry has every part, so each per-partition and per-table series appears.</summary>
    private sealed class ObservedJob : IRunningJob
    {
        public string Name => "ad-metrics";

        public string Description => Name;

        public PipelineStatus Status => default;

        public JobTelemetry Telemetry { get; } = new()
        {
            Topic = "ad-events",
            AssignedPartitions = [0],
            PartitionLag = new Dictionary<int, long> { [0] = 1 },
            Window = new StreamEngine.Core.Windowing.WindowCounters(1, 0, 0, 0, 1, 1, 1, 0, 1),
            Sinks = [("campaign_minute_results", default)],
        };

        public TimeSpan? CaughtUpAfter => TimeSpan.Zero;

        public Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping) => Task.FromResult<Exception?>(null);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [GeneratedRegex(@"streamengine_[a-z_]+[a-z]")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"\$__timeFilter\((\w+)\)")]
    private static partial Regex TimeFilter();

    [GeneratedRegex(@"(STREAMENGINE__[A-Z_]+[A-Z])[:=]?[ \t]*([^\s\\]*)")]
    private static partial Regex EngineVariable();
}
