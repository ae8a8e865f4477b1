using System.CommandLine;
using System.CommandLine.Parsing;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Commands;

namespace StreamEngine.Host;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var parse = Parse(args);
        try
        {
            if (UsageError(parse) is { } error)
            {
                throw new UsageException(error);
            }

            // Commands handle SIGINT and SIGTERM themselves (they drain); exceptions come here, to be reported in one line.
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"streamengine: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The contract: non-zero exit with a one-line reason on stderr.
            await Console.Error.WriteLineAsync($"streamengine: {OneLine(e.Message)}");
            return 1;
        }
    }

    /// <summary>
    /// The command line parsed. <c>streamengine</c> and <c>streamengine help [COMMAND]</c> ask for help, as <c>--help</c>
    /// does. No @file expansion: an argument is what it says (a --set value may well start with @).
    /// </summary>
    public static ParseResult Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string[] given = [.. args];
        string[] words = given switch { [] or ["help"] => ["--help"], ["help", .. var command] => [.. command, "--help"], _ => given };
        return CreateRootCommand().Parse(words, new ParserConfiguration { ResponseFileTokenReplacer = null });
    }

    /// <summary>Every command, each with <c>--help</c> (System.CommandLine's own).</summary>
    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand(
            "StreamEngine: ad events from Kafka, windowed exactly once into ClickHouse, live to NATS and the dashboard.\n" +
            "run, query, demo, backup and restore take --config FILE (YAML or JSON) and --set key=value; later wins: defaults, file,\n" +
            "environment (STREAMENGINE__KAFKA__BOOTSTRAP), --set.")
        {
            DemoCommand.Create(),
            KafkaServeCommand.Create(),
            GenerateCommand.Create(),
            JobsCommand.Create(),
            RunCommand.Create(),
            QueryCommand.Create(),
            ValidateCommand.Create(),
            BackupCommand.CreateBackup(),
            BackupCommand.CreateRestore(),
        };
        return root;
    }

    /// <summary>
    /// The first mistake on the command line in the engine's words: the command, what is wrong, what is allowed
    /// (System.CommandLine's messages for our typed options already are; unknown words and commands are reworded).
    /// </summary>
    public static string? UsageError(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        if (parse.Errors.Count == 0)
        {
            return null;
        }

        var command = parse.CommandResult.Command;
        var path = string.Join(' ', CommandPath(parse.CommandResult).Skip(1));
        if (parse.UnmatchedTokens.Count > 0)
        {
            var token = parse.UnmatchedTokens[0];
            if (command is RootCommand)
            {
                return $"unknown command '{token}' (run `streamengine help`)";
            }

            if (command.Subcommands.Count > 0)
            {
                return $"{path}: unknown subcommand '{token}' (the subcommand is {string.Join(" or ", command.Subcommands.Select(c => $"'{c.Name}'"))})";
            }

            if (token.StartsWith("--", StringComparison.Ordinal))
            {
                var name = token.Split('=')[0];
                var allowed = command.Options.Where(o => !o.Hidden && o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != "--help").Select(o => o.Name).Order(StringComparer.Ordinal);
                return $"{path}: unknown option {name} (allowed: {string.Join(", ", allowed)})";
            }

            return $"{path}: unexpected argument '{token}'";
        }

        var message = parse.Errors[0].Message;
        return path.Length == 0 || message.StartsWith(path + ":", StringComparison.Ordinal) ? message : $"{path}: {message}";
    }

    private static Stack<string> CommandPath(SymbolResult? result)
    {
        var names = new Stack<string>();
        for (var at = result; at is not null; at = at.Parent)
        {
            if (at is CommandResult c)
            {
                names.Push(c.Command.Name);
            }
        }

        return names;
    }

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
