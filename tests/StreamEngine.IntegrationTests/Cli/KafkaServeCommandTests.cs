using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Cli;

/// <summary><c>streamengine kafka serve</c> as its own process, used by kcat from another.</summary>
public sealed class KafkaServeCommandTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Serves_the_named_topics_to_other_processes_and_stops_cleanly_on_SIGTERM()
    {
        using var folder = new TemporaryDirectory();
        var bootstrapFile = folder.File("bootstrap.txt");
        using var serve = StreamEngineCli.Start("kafka", "serve", "--brokers", "2", "--topic", "clicks:5", "--topic", "bids:2", "--bootstrap-file", bootstrapFile);
        await serve.WaitForOutputAsync(line => line.StartsWith("embedded Kafka:", StringComparison.Ordinal), Patience);
        var bootstrap = (await File.ReadAllTextAsync(bootstrapFile)).Trim();

        using var metadata = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", bootstrap, "-L", "-J"], Patience);
        using var json = System.Text.Json.JsonDocument.Parse(metadata.StandardOutput);
        var topics = json.RootElement.GetProperty("topics").EnumerateArray()
            .ToDictionary(t => t.GetProperty("topic").GetString()!, t => t.GetProperty("partitions").GetArrayLength());
        Assert.Equal(5, topics["clicks"]);
        Assert.Equal(2, topics["bids"]);
        Assert.Equal(2, json.RootElement.GetProperty("brokers").GetArrayLength());

        using var produce = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", bootstrap, "-t", "clicks", "-P"], Patience, "one\ntwo\nthree\n");
        using var consume = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", bootstrap, "-t", "clicks", "-C", "-e", "-q"], Patience);
        Assert.Equal(["one", "three", "two"], consume.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));

        serve.Signal(15);
        await serve.WaitForExitAsync(Patience);
        Assert.Equal(0, serve.ExitCode);
        Assert.Contains("embedded Kafka stopped", serve.StandardOutput, StringComparison.Ordinal);
        Assert.False(File.Exists(bootstrapFile), "the bootstrap file names a cluster that is gone; it must be removed");
    }

    [Fact]
    public async Task Listens_on_fixed_ports_when_asked()
    {
        var port = FreePort.Next();
        using var serve = StreamEngineCli.Start("kafka", "serve", "--brokers", "1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--topic", "fixed:1");
        await serve.WaitForOutputAsync(line => line.StartsWith("embedded Kafka:", StringComparison.Ordinal), Patience);

        var bootstrap = $"127.0.0.1:{port}";
        using var produce = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", bootstrap, "-t", "fixed", "-P"], Patience, "hello\n");
        using var consume = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", bootstrap, "-t", "fixed", "-C", "-e", "-q"], Patience);

        Assert.Equal("hello", consume.StandardOutput.Trim());
        using var metadata = await ChildProcess.RunAsync(RequiredTool.Find("kcat"), ["-b", bootstrap, "-L"], Patience);
        Assert.Contains($"broker 1 at 127.0.0.1:{port}", metadata.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--brokers", "0" }, "--brokers must be a whole number from 1 to 64")]
    [InlineData(new[] { "--topic", "bad topic:3" }, "not a valid Kafka topic name")]
    [InlineData(new[] { "--topic", "t:x" }, "is not NAME:PARTITIONS")]
    [InlineData(new[] { "--partitions", "3" }, "unknown option --partitions")]
    public async Task Bad_arguments_stop_with_a_one_line_reason_and_exit_code_2(string[] arguments, string reason)
    {
        using var serve = await StreamEngineCli.RunAsync(Patience, ["kafka", "serve", .. arguments]);

        Assert.Equal(2, serve.ExitCode);
        var error = serve.StandardError.TrimEnd('\n');
        Assert.DoesNotContain('\n', error);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
