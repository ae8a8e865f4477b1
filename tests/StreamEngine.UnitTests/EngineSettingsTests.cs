using System.Collections;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;

namespace StreamEngine.UnitTests;

public sealed class EngineSettingsTests
{
    private static readonly IDictionary NoEnvironment = new Hashtable();

    [Fact]
    public void The_typed_records_carry_the_validated_values()
    {
        var defaults = EngineSettings.Load(["kafka.bootstrap=k:9092"], NoEnvironment);
        var set = EngineSettings.Load(["kafka.bootstrap=k:9092", "kafka.group=shared", "clickhouse.mode=server", "clickhouse.url=https://ch:8443/",
            "window.allowed_lateness=90s", "kafka.max.poll.interval.ms=60000", "clickhouse.cluster=prod"], NoEnvironment);

        Assert.Equal(("k:9092", "ad-events", "streamengine-ad-metrics", TimeSpan.FromMinutes(5)),
            (defaults.Kafka.Bootstrap, defaults.Kafka.Topic, defaults.Kafka.GroupFor("ad-metrics"), defaults.Kafka.MaxPollInterval));
        Assert.Equal(("shared", TimeSpan.FromMinutes(1)), (set.Kafka.GroupFor("ad-metrics"), set.Kafka.MaxPollInterval));
        Assert.True(defaults.ClickHouse.Embedded);
        Assert.Null(defaults.ClickHouse.Cluster);
        Assert.Equal((false, new Uri("https://ch:8443/"), "prod"), (set.ClickHouse.Embedded, set.ClickHouse.Url, set.ClickHouse.Cluster?.Name));
        Assert.Equal((TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(90), 1_000_000), (set.Pipeline.WatermarkDelay, set.Pipeline.AllowedLateness, set.Pipeline.MaxPendingRows));
    }

    [Fact]
    public void Every_key_is_documented_with_its_default_in_the_architecture_document()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "StreamEngine.sln")))
        {
            root = root.Parent!;
        }

        var documented = File.ReadAllLines(Path.Combine(root.FullName, "docs", "architecture.md"))
            .Select(line => System.Text.RegularExpressions.Regex.Match(line, @"^\| `([a-z_.]+)` \| (?:`([^`]*)`|\(empty\)) \|"))
            .Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);

        Assert.Equal(EngineSettings.Load([], NoEnvironment).Printable().ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal).OrderBy(p => p.Key, StringComparer.Ordinal),
            documented.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void The_memory_bounds_are_read_from_their_keys()
    {
        var settings = EngineSettings.Load(["window.max_dedup_ids=5000000", "clickhouse.embedded.max_memory=1073741824", "clickhouse.embedded.cache_size=0"], NoEnvironment);

        Assert.Equal(5_000_000, settings.Pipeline.MaxDedupIds);
        Assert.Equal((1L << 30, 0L), (settings.ClickHouse.EmbeddedOptions.MaxMemoryBytes, settings.ClickHouse.EmbeddedOptions.CacheBytes));
        Assert.Equal(20_000_000, EngineSettings.Load([], NoEnvironment).Pipeline.MaxDedupIds);
    }

    [Fact]
    public void Defaults_apply_when_nothing_is_set()
    {
        var settings = EngineSettings.Load([], NoEnvironment);

        Assert.Equal(".data/clickhouse", settings["clickhouse.path"]);
        Assert.Equal("embedded", settings["clickhouse.mode"]);
    }

    [Fact]
    public void Environment_overrides_defaults_and_set_overrides_environment()
    {
        var environment = new Hashtable { ["STREAMENGINE__CLICKHOUSE__PATH"] = "/from/env", ["UNRELATED"] = "x" };

        Assert.Equal("/from/env", EngineSettings.Load([], environment)["clickhouse.path"]);
        Assert.Equal("/from/set", EngineSettings.Load(["clickhouse.path=/from/set"], environment)["clickhouse.path"]);
    }

    [Theory]
    [InlineData("clickhouse.paht=/x", "unknown configuration key 'clickhouse.paht'")]
    [InlineData("clickhouse.mode=cloud", "configuration key 'clickhouse.mode' has a bad value 'cloud'")]
    [InlineData("no-equals-sign", "--set 'no-equals-sign' is not key=value")]
    [InlineData("pricing.smoothing=2", "configuration key 'pricing.smoothing' has a bad value '2'")]
    [InlineData("nats.url=http://x", "configuration key 'nats.url' has a bad value")]
    [InlineData("http.api_key=short", "configuration key 'http.api_key' has a bad value")]
    [InlineData("log.format=xml", "configuration key 'log.format' has a bad value 'xml'")]
    [InlineData("log.level=verbose", "configuration key 'log.level' has a bad value 'verbose'")]
    [InlineData("shutdown.timeout=0s", "configuration key 'shutdown.timeout' has a bad value '0s'")]
    [InlineData("health.max_lag=-1", "configuration key 'health.max_lag' has a bad value '-1'")]
    [InlineData("tracing.otlp_endpoint=collector:4317", "configuration key 'tracing.otlp_endpoint' has a bad value")]
    [InlineData("tracing.sample_ratio=1.5", "configuration key 'tracing.sample_ratio' has a bad value '1.5'")]
    [InlineData("clickhouse.embedded.max_memory=1000", "configuration key 'clickhouse.embedded.max_memory' has a bad value '1000'")]
    [InlineData("clickhouse.embedded.cache_size=-1", "configuration key 'clickhouse.embedded.cache_size' has a bad value '-1'")]
    [InlineData("window.max_dedup_ids=10", "configuration key 'window.max_dedup_ids' has a bad value '10'")]
    public void Bad_keys_and_values_are_named(string pair, string message)
    {
        var error = Assert.Throws<UsageException>(() => EngineSettings.Load([pair], NoEnvironment));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_environment_variable_is_named()
    {
        var error = Assert.Throws<UsageException>(() => EngineSettings.Load([], new Hashtable { ["STREAMENGINE__CLICKHOUSE__MODE"] = "cloud" }));

        Assert.Contains("environment variable STREAMENGINE__CLICKHOUSE__MODE", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("10s", 10_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("00:00:10", 10_000)]
    public void Durations_read_with_units_or_as_time_spans(string text, long milliseconds)
    {
        Assert.True(EngineSettings.TryParseDuration(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-5s")]
    [InlineData("5 parsecs")]
    public void Other_durations_are_refused(string text)
    {
        Assert.False(EngineSettings.TryParseDuration(text, out _));
    }

    [Fact]
    public void Listening_beyond_this_machine_needs_an_api_key()
    {
        var open = EngineSettings.Load(["http.host=0.0.0.0"], NoEnvironment);
        Assert.Contains("set 'http.api_key'", Assert.Throws<UsageException>(() => open.HttpOptions).Message, StringComparison.Ordinal);

        var keyed = EngineSettings.Load(["http.host=0.0.0.0", "http.api_key=0123456789abcdef"], NoEnvironment).HttpOptions;
        Assert.Equal("0123456789abcdef", keyed.ApiKey);
        Assert.Null(EngineSettings.Load([], NoEnvironment).HttpOptions.ApiKey); // loopback needs none
    }
}
