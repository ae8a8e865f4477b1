using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Cli;

/// <summary>The job commands' own errors and listings (the exactly-once behaviour of run is in ExactlyOnce/).</summary>
public sealed class JobsAndRunCommandTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Jobs_list_names_each_job_with_what_it_computes()
    {
        using var list = await StreamEngineCli.RunAsync(Patience, "jobs", "list");

        Assert.Equal(0, list.ExitCode);
        var lines = list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("ad-metrics ", StringComparison.Ordinal) && l.Contains("ads.campaign_minute", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("bid-landscape ", StringComparison.Ordinal) && l.Contains("ads.slot_minute", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("dynamic-pricing ", StringComparison.Ordinal) && l.Contains("ads.floor_recommendation", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "run" }, "--job is required")]
    [InlineData(new[] { "run", "--job", "nope" }, "unknown job 'nope' (known: ad-metrics")]
    [InlineData(new[] { "run", "--job", "ad-metrics" }, "'kafka.bootstrap' is required")]
    [InlineData(new[] { "run", "--job", "ad-metrics", "--set", "kafka.bootstrap=x", "--set", "window.allowed_lateness=soon" }, "'window.allowed_lateness' has a bad value 'soon'")]
    [InlineData(new[] { "jobs", "show" }, "unknown subcommand 'show'")]
    public async Task Mistakes_stop_with_exit_code_2_and_a_reason_that_names_them(string[] arguments, string reason)
    {
        using var run = await StreamEngineCli.RunAsync(Patience, arguments);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(reason, run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_shows_the_effective_configuration_with_secrets_masked_or_names_the_problem()
    {
        using var folder = new TemporaryDirectory();
        var good = folder.File("engine.yaml");
        await File.WriteAllTextAsync(good, "kafka:\n  bootstrap: b:9092\n  sasl.password: hunter2\nwindow:\n  allowed_lateness: 1m\n");
        var bad = folder.File("bad.json");
        await File.WriteAllTextAsync(bad, "{ \"kafka\": { \"bootstrapp\": \"x\" } }");

        using var ok = await StreamEngineCli.RunAsync(Patience, "validate", "--config", good);
        using var wrong = await StreamEngineCli.RunAsync(Patience, "validate", "--config", bad);

        Assert.Equal(0, ok.ExitCode);
        Assert.Contains("kafka.bootstrap = b:9092", ok.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("window.allowed_lateness = 1m", ok.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ok.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("unknown configuration key 'kafka.bootstrapp'", wrong.StandardError, StringComparison.Ordinal);
        using var exposed = await StreamEngineCli.RunAsync(Patience, "validate", "--config", good, "--set", "http.host=0.0.0.0");
        Assert.Equal(2, exposed.ExitCode); // keys that must come together are checked as a start checks them
        Assert.Contains("set 'http.api_key' too", exposed.StandardError, StringComparison.Ordinal);
    }
}
