using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.TestOracles;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Jobs;

/// <summary>
/// A job run to compare with brute force: generated traffic in a topic of the embedded cluster, the topic read back
/// and counted by the tests' reference (its own reader of the wire format, not the engine's decoder), and <c>streamengine run --job NAME --until-idle</c> writing through the server sink
/// to the fixture's ClickHouse in a fresh database.
/// </summary>
internal static class JobRun
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    /// <summary>Runs the job over <paramref name="messages"/> generated messages; returns the database and the events that count.</summary>
    public static async Task<(string Database, IReadOnlyList<WireEvent> Events)> RunAsync(
        string job, EmbeddedClickHouse clickHouse, string databasePrefix, TrafficOptions traffic, int messages, int partitions = 6, string? assembly = null,
        params string[] settings)
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic(databasePrefix, partitions);
        using (var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build())
        {
            foreach (var message in new TrafficGenerator(traffic).Messages().Take(messages))
            {
                producer.Produce(topic, new Message<string, byte[]> { Key = message.Key, Value = message.Value });
            }

            producer.Flush(Patience);
        }

        var database = Database(databasePrefix);
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(0));
        using var run = await StreamEngineCli.RunAsync(Patience, [
            "run", "--job", job, "--until-idle", "2", .. assembly is null ? Array.Empty<string>() : ["--assembly", assembly],
            .. Settings(kafka, topic, endpoint, database, settings)]);
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.StandardError}");
        return (database, TopicTruth.Read(kafka.BootstrapServers, topic, messages, Patience).Reference.Counted);
    }

    /// <summary>
    /// The same run, live: the engine holds every partition before the first message is sent, the messages go out in
    /// small paced batches while it reads at the head of the topic, and it is stopped (SIGTERM, drained) once it has
    /// read them all and has nothing left unwritten.
    /// </summary>
    public static async Task<(string Database, IReadOnlyList<WireEvent> Events)> RunLiveAsync(
        string job, EmbeddedClickHouse clickHouse, string databasePrefix, TrafficOptions traffic, int messages, int partitions = 6, params string[] settings)
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic(databasePrefix, partitions);
        var database = Database(databasePrefix);
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(0));
        using var process = StreamEngineCli.Start(["run", "--job", job, "--set", "http.port=0", .. Settings(kafka, topic, endpoint, database, settings)]);
        using (var engine = await EngineUnderTest.AttachAsync(process, Patience))
        {
            await engine.UntilAsync(async () => (await engine.HeldPartitionsAsync()).Count == partitions, $"the engine to hold all {partitions} partitions");
            using (var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build())
            {
                foreach (var batch in new TrafficGenerator(traffic).Messages().Take(messages).Chunk(250))
                {
                    foreach (var message in batch)
                    {
                        producer.Produce(topic, new Message<string, byte[]> { Key = message.Key, Value = message.Value });
                    }

                    producer.Flush(Patience);
                    await Task.Delay(50);
                }
            }

            await engine.UntilAsync(async () =>
            {
                var exposition = await engine.MetricsAsync();
                return EngineUnderTest.Value(exposition, "streamengine_messages_read_total") >= messages && EngineUnderTest.Value(exposition, "streamengine_pending_rows") == 0;
            }, $"the engine to read the {messages} messages and write what they make");
        }

        process.Signal(15);
        await process.WaitForExitAsync(Patience);
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {process.StandardError}");
        return (database, TopicTruth.Read(kafka.BootstrapServers, topic, messages, Patience).Reference.Counted);
    }

    /// <summary>A fresh database's name: the prefix and 8 random hex digits.</summary>
    private static string Database(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    /// <summary>The run's source and store settings (the topic of the cluster, the endpoint's database), then the test's own.</summary>
    private static string[] Settings(EmbeddedKafkaFixture kafka, string topic, ClickHouseHttpEndpoint endpoint, string database, string[] settings) =>
    [
        "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}",
        "--set", "clickhouse.mode=server", "--set", $"clickhouse.url={endpoint.Url}", "--set", $"clickhouse.database={database}",
        .. settings.SelectMany(s => new[] { "--set", s }),
    ];

    /// <summary>Rows of a query as tab-separated fields, keyed by the first <paramref name="keyFields"/> fields joined.</summary>
    public static Dictionary<string, string[]> Rows(EmbeddedClickHouse clickHouse, string sql, int keyFields) =>
        clickHouse.QueryText(sql)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(f => string.Join(' ', f[..keyFields]));
}
