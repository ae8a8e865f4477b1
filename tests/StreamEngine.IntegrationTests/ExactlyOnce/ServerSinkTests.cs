using StreamEngine.AdEvents;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>
/// <c>run</c> with the server sink (<c>clickhouse.mode=server</c>, ClickHouse.Driver over HTTP) against a ClickHouse
/// HTTP endpoint that goes away for a while: the engine waits and holds its source back, loses nothing, and the
/// results equal the truth once ClickHouse is back.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class ServerSinkTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task While_ClickHouse_fails_for_a_while_nothing_is_lost_or_doubled()
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic("server-sink", 4);
        using var traffic = new GeneratedTraffic(kafka, topic, new TrafficOptions { Seed = 11, DuplicateFraction = 0.02 });
        traffic.Produce(20_000);

        var database = clickHouse.CreateDatabase("server_sink");
        var port = FreePort.Next();
        var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));
        using var engine = StreamEngineCli.Start("run", "--job", "ad-metrics", "--until-idle", "3", "--set", "http.port=0",
            "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}",
            "--set", "clickhouse.mode=server", "--set", $"clickhouse.url=http://127.0.0.1:{port}/", "--set", $"clickhouse.database={database}");
        using var observed = await EngineUnderTest.AttachAsync(engine, Patience);

        // ClickHouse goes away mid-run: inserts and checkpoints fail and are retried (the engine says so, and waits
        // instead of stopping: UntilAsync fails if it exits); then it is back.
        await endpoint.DisposeAsync();
        await observed.UntilAsync(async () => await observed.MetricAsync("streamengine_sink_failed_attempts_total") >= 3, "writes fail and are retried while ClickHouse is away");
        Assert.False(engine.HasExited, $"the engine must wait for ClickHouse, not stop: {engine.StandardError}");
        endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));
        try
        {
            await engine.WaitForExitAsync(Patience);
            Assert.True(engine.ExitCode == 0, $"exit {engine.ExitCode}: {engine.StandardError}");
            Assert.Contains("failed write attempts retried", engine.StandardOutput, StringComparison.Ordinal); // the outage was felt
        }
        finally
        {
            await endpoint.DisposeAsync();
        }

        var actual = clickHouse.Store.QueryText(GeneratedTraffic.CampaignMinuteQuery(database)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(traffic.ExpectedRows(), actual);
    }
}
