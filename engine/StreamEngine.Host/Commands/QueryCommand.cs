using StreamEngine.ClickHouse.Embedded;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine query "SQL"</c>: runs SQL against the embedded store at <c>clickhouse.path</c> and writes the
/// output, unchanged, to standard output. (Through the engine's HTTP endpoint while an engine runs: issue 5.)
/// </summary>
public static class QueryCommand
{
    public static int Run(IReadOnlyList<string> args, Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var parsed = Arguments.Parse("query", args, "set", "format");
        parsed.ExpectPositionals(1, 1, "the SQL to run (streamengine query \"SELECT ...\")");
        var settings = EngineSettings.Load(parsed.All("set"));
        var format = parsed.Value("format") ?? "TSV";
        if (format.Length == 0 || !format.All(char.IsAsciiLetterOrDigit))
        {
            throw new UsageException($"query: --format '{format}' is not a ClickHouse format name");
        }

        using var store = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = settings["clickhouse.path"] });
        using var result = store.Query(parsed.Positionals[0], format);
        output.Write(result.Span);
        output.Flush();
        return 0;
    }
}
