using System.Collections;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;

namespace StreamEngine.UnitTests;

public sealed class ConfigFileTests : IDisposable
{
    private static readonly IDictionary NoEnvironment = new Hashtable();
    private readonly string _folder = Directory.CreateTempSubdirectory("streamengine-config").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_YAML_file_gives_dotted_keys_and_kafka_security_settings_pass_through_masked()
    {
        var file = Write("engine.yaml", """
            kafka:
              bootstrap: broker-1:9092,broker-2:9092
              group: streamengine-prod
              sasl.mechanism: SCRAM-SHA-512
              sasl.password: hunter2
            window:
              allowed_lateness: 2m
            """);

        var settings = EngineSettings.Load([], NoEnvironment, file);

        Assert.Equal("broker-1:9092,broker-2:9092", settings["kafka.bootstrap"]);
        Assert.Equal(TimeSpan.FromMinutes(2), settings.Duration("window.allowed_lateness"));
        Assert.Equal(new Dictionary<string, string> { ["sasl.mechanism"] = "SCRAM-SHA-512", ["sasl.password"] = "hunter2" }, settings.KafkaClientSettings);
        Assert.DoesNotContain(settings.Printable(), p => p.Value.Contains("hunter2", StringComparison.Ordinal));
        Assert.Contains(settings.Printable(), p => p is { Key: "kafka.sasl.password", Value: "****" });
    }

    [Fact]
    public void A_JSON_file_works_the_same_and_environment_and_set_win_over_it()
    {
        var file = Write("engine.json", """{ "clickhouse": { "path": "/from/file", "http": { "port": 9000 } }, "kafka": { "topic": "file-topic" } }""");
        var environment = new Hashtable { ["STREAMENGINE__CLICKHOUSE__PATH"] = "/from/env" };

        var settings = EngineSettings.Load(["kafka.topic=set-topic"], environment, file);

        Assert.Equal("/from/env", settings["clickhouse.path"]);
        Assert.Equal(9000, settings.Port("clickhouse.http.port"));
        Assert.Equal("set-topic", settings["kafka.topic"]);
        Assert.Equal("environment", settings.SourceOf("clickhouse.path"));
        Assert.Equal(file, settings.SourceOf("clickhouse.http.port"));
        Assert.Equal("--set", settings.SourceOf("kafka.topic"));
        Assert.Equal("default", settings.SourceOf("window.allowed_lateness"));
    }

    [Fact]
    public void A_nested_map_a_dotted_key_and_an_environment_path_name_one_setting_and_the_later_source_wins()
    {
        // kafka.max.poll.interval.ms nested all the way down in the file, dotted in the environment's path.
        var file = Write("nested.yaml", """
            kafka:
              max:
                poll:
                  interval:
                    ms: 20000
            """);

        var fromFile = EngineSettings.Load([], NoEnvironment, file);
        var fromEnvironment = EngineSettings.Load([], new Hashtable { ["STREAMENGINE__KAFKA__MAX__POLL__INTERVAL__MS"] = "30000" }, file);
        var fromSet = EngineSettings.Load(["kafka.max.poll.interval.ms=40000"], new Hashtable { ["STREAMENGINE__KAFKA__MAX__POLL__INTERVAL__MS"] = "30000" }, file);

        Assert.Equal((20000L, file), (fromFile.WholeNumber("kafka.max.poll.interval.ms"), fromFile.SourceOf("kafka.max.poll.interval.ms")));
        Assert.Equal((30000L, "environment"), (fromEnvironment.WholeNumber("kafka.max.poll.interval.ms"), fromEnvironment.SourceOf("kafka.max.poll.interval.ms")));
        Assert.Equal((40000L, "--set"), (fromSet.WholeNumber("kafka.max.poll.interval.ms"), fromSet.SourceOf("kafka.max.poll.interval.ms")));
    }

    [Fact]
    public void A_bad_value_is_named_with_its_source_even_where_a_later_source_overrides_it()
    {
        var file = Write("bad-but-overridden.yaml", "clickhouse:\n  mode: cloud\n");

        var error = Assert.Throws<UsageException>(() => EngineSettings.Load(["clickhouse.mode=embedded"], NoEnvironment, file));

        Assert.Contains($"configuration key 'clickhouse.mode' has a bad value 'cloud' (from {file})", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bad.yaml", "clickhouse:\n  pth: /x\n", "unknown configuration key 'clickhouse.pth' (from")]
    [InlineData("bad-value.yaml", "window:\n  watermark_delay: soon\n", "'window.watermark_delay' has a bad value 'soon'")]
    [InlineData("list.yaml", "kafka:\n  bootstrap:\n    - a\n    - b\n", "key 'kafka.bootstrap'")]
    [InlineData("broken.json", "{ \"kafka\": ", "is not valid JSON")]
    [InlineData("broken.yaml", "kafka: [unclosed\n", "is not valid YAML")]
    public void Mistakes_in_a_file_are_named_with_the_file(string name, string text, string message)
    {
        var file = Write(name, text);

        var error = Assert.Throws<UsageException>(() => EngineSettings.Load([], NoEnvironment, file));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var error = Assert.Throws<UsageException>(() => EngineSettings.Load([], NoEnvironment, Path.Combine(_folder, "nope.yaml")));

        Assert.Contains("nope.yaml' does not exist", error.Message, StringComparison.Ordinal);
    }
}
