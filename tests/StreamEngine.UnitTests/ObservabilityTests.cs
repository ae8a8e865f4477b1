using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Prometheus;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Runtime;

namespace StreamEngine.UnitTests;

public sealed class ObservabilityTests
{
    [Fact]
    public void Log_lines_in_JSON_carry_level_job_and_correlation_id_and_mask_secret_values()
    {
        var lines = new List<string>();
        var log = EngineLog.Create(lines.Add, json: true, LogLevel.Information, ["s3cr3t-password", "ab"]).ForJob("ad-metrics");

        log.Warn("ClickHouse refused user default with password s3cr3t-password", "00f067aa0ba902b7");
        log.Debug("not written below the minimum level");

        // Microsoft.Extensions.Logging's JSON console formatter: the job as the category and in State with the id.
        var line = JsonDocument.Parse(Assert.Single(lines)).RootElement;
        Assert.Equal("Warning", line.GetProperty("LogLevel").GetString());
        Assert.Equal("ad-metrics", line.GetProperty("Category").GetString());
        Assert.Equal("ad-metrics", line.GetProperty("State").GetProperty("job").GetString());
        Assert.Equal("00f067aa0ba902b7", line.GetProperty("State").GetProperty("correlation_id").GetString());
        Assert.Equal("ClickHouse refused user default with password ****", line.GetProperty("Message").GetString());
        Assert.DoesNotContain("s3cr3t", Assert.Single(lines), StringComparison.Ordinal);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line.GetProperty("Timestamp").GetString());
    }

    [Fact]
    public void Text_lines_are_readable_and_plain_lines_are_the_message_alone()
    {
        var text = new List<string>();
        var plain = new List<string>();

        EngineLog.Create(text.Add, json: false, LogLevel.Debug, []).ForJob("bid-landscape").Debug("checkpoint: 3 results", "0123456789abcdef");
        EngineLog.To(plain.Add).Info("caught up");

        Assert.Matches(@"^\d\d:\d\d:\d\d\.\d{3} dbug: bid-landscape\[0\] checkpoint: 3 results \[0123456789abcdef\]$", Assert.Single(text));
        Assert.Equal("caught up", Assert.Single(plain));
    }

    [Fact]
    public void Prometheus_export_names_counters_total_and_drops_series_no_longer_observed()
    {
        var registry = Metrics.NewCustomRegistry();
        using var meter = new Meter("StreamEngine.UnitTests.Bridge");
        var partitions = new List<int> { 0, 1, 2 };
        meter.CreateObservableGauge("streamengine_partition_assigned", () => partitions.Select(p => new Measurement<long>(1, new KeyValuePair<string, object?>("partition", p))));
        meter.CreateObservableCounter("streamengine_messages_read", () => 42L);
        using var bridge = new PrometheusBridge(meter.Name, registry);

        var before = Export(registry);
        partitions.Remove(1); // partition 1 moved to another engine
        var after = Export(registry);

        Assert.Contains("streamengine_messages_read_total 42", before, StringComparison.Ordinal);
        Assert.Contains("streamengine_partition_assigned{partition=\"1\"} 1", before, StringComparison.Ordinal);
        Assert.DoesNotContain("partition=\"1\"", after, StringComparison.Ordinal);
        Assert.Contains("streamengine_partition_assigned{partition=\"2\"} 1", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readiness_names_each_reason_and_is_ready_when_none_applies()
    {
        var options = new EngineHttpOptions { MaxReadyLag = 1_000 };
        var ready = new FakeJob("ad-metrics", new JobTelemetry { Topic = "ad-events", AssignedPartitions = [0, 1], PartitionLag = new Dictionary<int, long> { [0] = 10, [1] = 20 } }, caughtUp: true);
        var lagging = new FakeJob("bid-landscape", new JobTelemetry { Topic = "ad-events", AssignedPartitions = [2], PartitionLag = new Dictionary<int, long> { [2] = 5_000 } }, caughtUp: true);
        var idle = new FakeJob("spare", new JobTelemetry { Topic = "ad-events" }, caughtUp: false);

        Assert.Empty(await Readiness.ProblemsAsync([ready], options with { SinkProbe = _ => Task.CompletedTask }, CancellationToken.None));
        Assert.Equal(["no job running yet"], await Readiness.ProblemsAsync([], options, CancellationToken.None));
        var problems = await Readiness.ProblemsAsync([ready, lagging, idle], options with { SinkProbe = _ => throw new HttpRequestException("connection refused") }, CancellationToken.None);
        Assert.Equal(["bid-landscape lags 5,000 messages (health.max_lag 1,000)", "spare holds no partition of ad-events", "ClickHouse does not answer: connection refused"], problems);
    }

    private static string Export(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private sealed class FakeJob(string name, JobTelemetry telemetry, bool caughtUp) : IRunningJob
    {
        public string Name => name;

        public string Description => name;

        public PipelineStatus Status => default;

        public JobTelemetry Telemetry => telemetry;

        public TimeSpan? CaughtUpAfter => caughtUp ? TimeSpan.FromSeconds(1) : null;

        public Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping) => Task.FromResult<Exception?>(null);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
