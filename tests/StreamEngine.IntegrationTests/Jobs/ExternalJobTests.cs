using StreamEngine.AdEvents;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Jobs;

/// <summary>
/// A job author's job in its own assembly (examples/PublisherMinuteJob, referencing only the core) listed and run by
/// <c>--assembly</c>, its results against brute force; and the errors for assemblies that are not jobs.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class ExternalJobTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    private static string ExampleAssembly => Path.Combine(AppContext.BaseDirectory, "PublisherMinuteJob.dll");

    [Fact]
    public async Task A_job_from_its_own_assembly_is_listed_and_runs_exactly_like_a_built_in_one()
    {
        using var list = await StreamEngineCli.RunAsync(Patience, "jobs", "list", "--assembly", ExampleAssembly);
        Assert.True(list.ExitCode == 0, list.StandardError);
        Assert.StartsWith("publisher-minute ", list.StandardOutput, StringComparison.Ordinal);

        var (database, events) = await JobRun.RunAsync("publisher-minute", clickHouse.Store, "external",
            new TrafficOptions { Seed = 41, DuplicateFraction = 0.02, Publishers = 8 }, 15_000, partitions: 4, assembly: ExampleAssembly);

        var expected = events.Where(e => e.Type == "impression")
            .GroupBy(e => $"{e.MinuteStartMs / 1000} {e.Publisher}")
            .ToDictionary(g => g.Key, g => $"{g.Count()} {g.Sum(e => e.SpendMicros)}");
        var actual = JobRun.Rows(clickHouse.Store, $"SELECT toUnixTimestamp(window_start), publisher, impressions, spend_micros FROM {database}.publisher_minute", 2)
            .ToDictionary(r => r.Key, r => string.Join(' ', r.Value[2..]));
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), actual.OrderBy(e => e.Key, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("no-such.dll", "no such file")]
    [InlineData("xunit.core.dll", "holds no job")]
    public async Task An_assembly_that_is_not_a_job_is_refused_with_the_reason(string assembly, string reason)
    {
        using var run = await StreamEngineCli.RunAsync(Patience, "run", "--assembly", Path.Combine(AppContext.BaseDirectory, assembly), "--job", "x",
            "--set", "kafka.bootstrap=127.0.0.1:1");

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(reason, run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_name_the_assembly_does_not_hold_names_those_it_does()
    {
        using var run = await StreamEngineCli.RunAsync(Patience, "run", "--assembly", ExampleAssembly, "--job", "ad-metricz",
            "--set", "kafka.bootstrap=127.0.0.1:1");

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("unknown job 'ad-metricz' (known: publisher-minute", run.StandardError, StringComparison.Ordinal);
    }
}
