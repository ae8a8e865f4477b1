using System.CommandLine;
using System.Runtime.InteropServices;
using StreamEngine.Host.Cli;
using StreamEngine.Kafka.Embedded;

namespace StreamEngine.Host.Commands;

/// <summary><c>streamengine kafka serve</c>: the embedded Kafka cluster as a process of its own.</summary>
public static class KafkaServeCommand
{
    /// <summary>Topics created when none are named: the engine's input, dead-letter and late outputs.</summary>
    public static readonly IReadOnlyList<TopicSpec> DefaultTopics =
        [new("ad-events", 12), new("ad-events.dlq", 3), new("ad-events.late", 3)];

    public static Command Create()
    {
        const string name = "kafka serve";
        var brokers = CliOptions.WholeNumber(name, "--brokers", "how many brokers", 3, 1, 64);
        var topic = new Option<string[]>("--topic")
        {
            Description = "a topic to create, repeatable (default: ad-events:12, ad-events.dlq:3, ad-events.late:3)",
            HelpName = "NAME:PARTITIONS",
            Arity = ArgumentArity.OneOrMore,
            DefaultValueFactory = _ => [],
        };
        var bootstrapFile = CliOptions.Text("--bootstrap-file", "write the bootstrap servers to this file once the cluster is up", "FILE");
        var port = CliOptions.OptionalWholeNumber(name, "--port", "the first broker's port, the others on the next ones (default: free ports)", 1, 65_535);
        var serve = new Command("serve", "run the embedded Kafka cluster until stopped (Ctrl-C or SIGTERM)") { brokers, topic, bootstrapFile, port };
        serve.SetAction((parse, _) => RunAsync(parse.GetValue(brokers), parse.GetValue(topic) ?? [], parse.GetValue(bootstrapFile), parse.GetValue(port), Console.Out));
        var kafka = new Command("kafka", "the embedded Kafka cluster") { serve };
        kafka.SetAction(int (_) => throw new UsageException("kafka: the subcommand is 'serve' (streamengine kafka serve ...)"));
        return kafka;
    }

    public static async Task<int> RunAsync(int brokers, IReadOnlyList<string> topicSpecs, string? bootstrapFile, int? firstPort, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(topicSpecs);
        ArgumentNullException.ThrowIfNull(output);
        if (firstPort > 65_535 - brokers + 1)
        {
            throw new UsageException($"kafka serve: --port must be a whole number from 1 to {65_535 - brokers + 1}, not '{firstPort}'");
        }

        List<TopicSpec> topics;
        try
        {
            topics = topicSpecs.Select(TopicSpec.Parse).ToList();
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new UsageException($"kafka serve: --topic {e.Message}");
        }

        var options = new EmbeddedKafkaOptions
        {
            Brokers = brokers,
            FirstPort = firstPort,
            Topics = topics.Count > 0 ? topics : DefaultTopics,
        };

        using var stopping = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        using (var cluster = EmbeddedKafkaCluster.Start(options))
        {
            if (bootstrapFile is not null)
            {
                WriteAtomically(bootstrapFile, cluster.BootstrapServers + "\n");
            }

            await output.WriteLineAsync($"embedded Kafka: {brokers} broker(s) at {cluster.BootstrapServers}");
            await output.WriteLineAsync($"topics: {string.Join(", ", options.Topics)}");
            await output.WriteLineAsync("memory only; each partition keeps its newest ~5 MiB. Ctrl-C or SIGTERM stops.");
            await output.WriteLineAsync($"fault injection on standard input: 'broker down N', 'broker up N' (N in 1..{brokers}), 'leader TOPIC PARTITION N'");
            await output.FlushAsync();
            _ = Task.Run(() => ReadCommands(cluster, Console.In, output), CancellationToken.None);
            try
            {
                await Task.Delay(Timeout.Infinite, stopping.Token);
            }
            catch (OperationCanceledException)
            {
            }

            if (bootstrapFile is not null)
            {
                File.Delete(bootstrapFile);
            }
        }

        await output.WriteLineAsync("embedded Kafka stopped");
        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stopping.Cancel();
        }
    }

    /// <summary>
    /// Fault injection for tests and experiments, one command per line; each is acknowledged with a line. Ends when
    /// the input does (a service started without input reads nothing).
    /// </summary>
    private static void ReadCommands(EmbeddedKafkaCluster cluster, TextReader input, TextWriter output)
    {
        while (input.ReadLine() is { } line)
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string reply;
            try
            {
                reply = words switch
                {
                    ["broker", "down", var id] => Do(() => cluster.SetBrokerDown(Broker(cluster, id)), $"broker {id} down"),
                    ["broker", "up", var id] => Do(() => cluster.SetBrokerUp(Broker(cluster, id)), $"broker {id} up"),
                    ["leader", var topic, var partition, var id] => Do(
                        () => cluster.SetPartitionLeader(topic, int.Parse(partition, System.Globalization.CultureInfo.InvariantCulture), Broker(cluster, id)),
                        $"leader of {topic}[{partition}] is broker {id}"),
                    [] => "",
                    _ => $"unknown command '{line}': try 'broker down N', 'broker up N', 'leader TOPIC PARTITION N'",
                };
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                reply = $"'{line}' failed: {e.Message}";
            }

            if (reply.Length > 0)
            {
                lock (output)
                {
                    output.WriteLine(reply);
                    output.Flush();
                }
            }
        }
    }

    private static string Do(Action action, string done)
    {
        action();
        return done;
    }

    private static int Broker(EmbeddedKafkaCluster cluster, string id) =>
        int.TryParse(id, System.Globalization.CultureInfo.InvariantCulture, out var broker) && cluster.BrokerIds.Contains(broker)
            ? broker
            : throw new ArgumentException($"no broker {id} (brokers are 1..{cluster.BrokerIds.Count})");

    /// <summary>Writes then renames, so a script polling for the file never reads half of it.</summary>
    private static void WriteAtomically(string path, string content)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + ".tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, full, overwrite: true);
    }
}
