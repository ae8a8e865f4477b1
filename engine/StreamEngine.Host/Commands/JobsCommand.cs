using StreamEngine.Host.Cli;

namespace StreamEngine.Host.Commands;

/// <summary>The jobs this build can run, and <c>streamengine jobs list</c>.</summary>
public static class JobsCommand
{
    /// <summary>Name and one line on what it computes and where the results go.</summary>
    public static readonly IReadOnlyList<(string Name, string Description)> Known =
    [
        ("ad-metrics", "per campaign and minute: bids, wins, impressions, clicks, conversions, spend, CTR, eCPM, unique users -> ads.campaign_minute"),
    ];

    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var parsed = Arguments.Parse("jobs", args);
        parsed.ExpectPositionals(1, 1, "a subcommand (streamengine jobs list)");
        if (parsed.Positionals[0] != "list")
        {
            throw new UsageException($"jobs: unknown subcommand '{parsed.Positionals[0]}' (the subcommand is 'list')");
        }

        var width = Known.Max(j => j.Name.Length);
        foreach (var (name, description) in Known)
        {
            output.WriteLine($"{name.PadRight(width)}  {description}");
        }

        return 0;
    }

    /// <summary>Throws the usage error that names the known jobs when <paramref name="name"/> is not one.</summary>
    public static void EnsureKnown(string name)
    {
        if (!Known.Any(j => j.Name == name))
        {
            throw new UsageException($"run: unknown job '{name}' (known: {string.Join(", ", Known.Select(j => j.Name))}; see streamengine jobs list)");
        }
    }
}
