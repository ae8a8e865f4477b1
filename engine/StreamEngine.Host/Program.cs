using StreamEngine.Host.Cli;
using StreamEngine.Host.Commands;

namespace StreamEngine.Host;

public static class Program
{
    private const string Usage = """
        usage: streamengine <command> [options]

        commands:
          demo [--port 5000] [--set key=value]...
                                  everything on embedded defaults: Kafka, traffic, the ad-metrics job, ClickHouse and
                                  its HTTP endpoint, with a live summary (Ctrl-C stops; results are kept)
          kafka serve [--brokers 3] [--topic NAME:PARTITIONS]... [--bootstrap-file F] [--port P]
                                  run the embedded Kafka cluster until stopped (Ctrl-C or SIGTERM)
          generate --bootstrap B [--topic ad-events] --events N [--rate R] [--seed S]
                   [--duplicates F] [--late F] [--malformed F] [--truth FILE] [--campaigns C]
                                  send realistic ad traffic; --truth writes the expected ads.campaign_minute rows
          jobs list [--assembly DLL]
                                  the jobs this build (or a job author's assembly) can run
          run --job NAME [--assembly DLL] [--set key=value]... [--until-idle SECONDS]
                                  run a job from Kafka to ClickHouse (embedded or server), exactly once
          query [--set key=value]... "SQL" [--format TSV|JSONEachRow|Pretty|ArrowStream|...]
                                  run SQL against the embedded ClickHouse store (clickhouse.path)
          validate --config FILE  check a YAML or JSON configuration and show the effective values
          backup --to DIR [--set key=value]...
                                  back up the embedded store (clickhouse.path), offsets included; stop its engine first
          restore --from DIR [--set key=value]...
                                  restore a backup into an empty store; jobs then resume exactly once from its offsets
          help                    show this text

        run, query and demo take --config FILE (YAML or JSON) and --set key=value; later wins: defaults, file,
        environment (STREAMENGINE__KAFKA__BOOTSTRAP), --set.
        """;

    public static async Task<int> Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        try
        {
            return args switch
            {
                [] or ["help" or "--help" or "-h", ..] => PrintUsage(),
                ["demo", .. var rest] => await DemoCommand.RunAsync(rest, Console.Out),
                ["kafka", "serve", .. var rest] => await KafkaServeCommand.RunAsync(rest, Console.Out),
                ["kafka", ..] => throw new UsageException("kafka: the subcommand is 'serve' (streamengine kafka serve ...)"),
                ["generate", .. var rest] => await GenerateCommand.RunAsync(rest, Console.Error),
                ["validate", .. var rest] => ValidateCommand.Run(rest, Console.Out),
                ["jobs", .. var rest] => JobsCommand.Run(rest, Console.Out),
                ["run", .. var rest] => await RunCommand.RunAsync(rest, Console.Out),
                ["query", .. var rest] => await QueryCommand.RunAsync(rest, Console.OpenStandardOutput()),
                ["backup", .. var rest] => await BackupCommand.BackupAsync(rest, Console.Out),
                ["restore", .. var rest] => await BackupCommand.RestoreAsync(rest, Console.Out),
                [var unknown, ..] => throw new UsageException($"unknown command '{unknown}' (run `streamengine help`)"),
            };
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

    private static int PrintUsage()
    {
        Console.Out.WriteLine(Usage);
        return 0;
    }

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
