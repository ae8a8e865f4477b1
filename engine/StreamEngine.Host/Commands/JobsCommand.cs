using System.CommandLine;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Running;

namespace StreamEngine.Host.Commands;

/// <summary>The jobs this build can run, and <c>streamengine jobs list</c>.</summary>
public static class JobsCommand
{
    public static Command Create()
    {
        var assembly = CliOptions.Text("--assembly", "list the jobs of a job author's assembly instead of the built-in ones", "DLL");
        var list = new Command("list", "the jobs this build (or a job author's assembly) can run") { assembly };
        list.SetAction(parse => Run(parse.GetValue(assembly), Console.Out));
        var jobs = new Command("jobs", "the jobs this build can run") { list };
        jobs.SetAction(int (_) => throw new UsageException("jobs: missing a subcommand (streamengine jobs list)"));
        return jobs;
    }

    public static int Run(string? assemblyPath, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var jobs = assemblyPath is { } assembly ? [.. JobCatalog.FromAssembly(assembly).Select(j => (j.Name, j.Summary))] : JobCatalog.Summaries;
        var width = jobs.Max(j => j.Name.Length);
        foreach (var (name, summary) in jobs)
        {
            output.WriteLine($"{name.PadRight(width)}  {summary}");
        }

        return 0;
    }
}
