using StreamEngine.AdEvents;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Jobs;

/// <summary>
/// The job template as a job author uses it: installed from the repository with <c>dotnet new install</c>, a project
/// made from it builds, its tests pass on the job test driver, and its job runs with <c>--assembly</c> against the
/// embedded servers, its results against brute force.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class JobTemplateTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_project_from_the_template_builds_tests_green_and_runs_in_the_engine()
    {
        using var folder = new TemporaryDirectory("streamengine-template");
        // dotnet new keeps its installed templates under DOTNET_CLI_HOME: a folder of this test's own.
        var home = new Dictionary<string, string> { ["DOTNET_CLI_HOME"] = folder.File("home") };
        var dotnet = RequiredTool.Find("dotnet");
        await Succeeds(dotnet, ["new", "install", Path.Combine(RepositoryRoot.Path, "templates", "streamengine-job")], home);
        var project = folder.File("ClickJob");
        await Succeeds(dotnet, ["new", "streamengine-job", "-n", "ClickJob", "-o", project, "--engine", RepositoryRoot.Path, "--job", "click-minute", "--table", "click_minute"], home);

        // The engine's projects are built already (the test command builds them first): only the new ones are built
        // here, so nothing else running meanwhile sees its outputs rewritten.
        string[] noReferences = ["-c", "Release", "-p:BuildProjectReferences=false", "--nologo"];
        await Succeeds(dotnet, ["build", Path.Combine(project, "ClickJob", "ClickJob.csproj"), .. noReferences]);
        var tests = await Succeeds(dotnet, ["test", Path.Combine(project, "ClickJob.Tests", "ClickJob.Tests.csproj"), .. noReferences]);
        Assert.Contains("Passed!  - Failed:     0, Passed:     7", tests, StringComparison.Ordinal); // six crash points (CrashPoint) and one more

        var assembly = Path.Combine(project, "ClickJob", "bin", "Release", "net10.0", "ClickJob.dll");
        using var list = await StreamEngineCli.RunAsync(Patience, "jobs", "list", "--assembly", assembly);
        Assert.True(list.ExitCode == 0, list.StandardError);
        Assert.StartsWith("click-minute ", list.StandardOutput, StringComparison.Ordinal);

        var (database, events) = await JobRun.RunAsync("click-minute", clickHouse.Store, "template",
            new TrafficOptions { Seed = 43, DuplicateFraction = 0.02, Campaigns = 20, AuctionsPerSecond = 100 }, 12_000, partitions: 3, assembly: assembly); // clicks come seconds after their impression: event time must run for a while
        var expected = events.Where(e => e.Type is "click" or "conversion")
            .GroupBy(e => $"{e.MinuteStartMs / 1000} {e.Campaign}")
            .ToDictionary(g => g.Key, g => $"{g.Count(e => e.Type == "click")} {g.Count(e => e.Type == "conversion")}");
        var actual = JobRun.Rows(clickHouse.Store, $"SELECT toUnixTimestamp(window_start), campaign, clicks, conversions FROM {database}.click_minute", 2)
            .ToDictionary(r => r.Key, r => string.Join(' ', r.Value[2..]));
        // Only against an empty comparison: how many campaign minutes there are depends on where the clock's minutes fall.
        Assert.True(expected.Count >= 3, $"only {expected.Count} campaign minutes with clicks or conversions");
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), actual.OrderBy(e => e.Key, StringComparer.Ordinal));
    }

    /// <summary>Runs a tool that must succeed; returns its standard output.</summary>
    private static async Task<string> Succeeds(string fileName, string[] arguments, IDictionary<string, string>? environment = null)
    {
        using var run = await ChildProcess.RunAsync(fileName, arguments, Patience, environment: environment);
        Assert.True(run.ExitCode == 0, $"{Path.GetFileName(fileName)} {string.Join(' ', arguments)} exited {run.ExitCode}:\n{run.StandardOutput}\n{run.StandardError}");
        return run.StandardOutput;
    }
}
