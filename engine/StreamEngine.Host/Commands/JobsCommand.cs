using StreamEngine.Host.Cli;
using StreamEngine.Host.Running;

namespace StreamEngine.Host.Commands;

/// <summary>The jobs this build can run, and <c>streamengine jobs list</c>.</summary>
public static class JobsCommand
{
    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var parsed = Arguments.Parse("jobs", args, "assembly");
        parsed.ExpectPositionals(1, 1, "a subcommand (streamengine jobs list)");
        if (parsed.Positionals[0] != "list")
        {
            throw new UsageException($"jobs: unknown subcommand '{parsed.Positionals[0]}' (the subcommand is 'list')");
        }

        var jobs = parsed.Value("assembly") is { } assembly ? [.. JobCatalog.FromAssembly(assembly).Select(j => (j.Name, j.Summary))] : JobCatalog.Summaries;
        var width = jobs.Max(j => j.Name.Length);
        foreach (var (name, summary) in jobs)
        {
            output.WriteLine($"{name.PadRight(width)}  {summary}");
        }

        return 0;
    }
}
