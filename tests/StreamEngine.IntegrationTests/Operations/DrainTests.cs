using StreamEngine.AdEvents;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Operations;

/// <summary>
/// SIGTERM drains within <c>shutdown.timeout</c>: when the drain cannot finish (ClickHouse is gone), the engine still
/// stops in time with a non-zero exit and a reason, and nothing is lost: the next run replays from the last checkpoint.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class DrainTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_drain_that_cannot_finish_stops_at_the_timeout_and_the_next_run_loses_nothing()
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic("drain", 4);
        using var traffic = new GeneratedTraffic(kafka, topic, new TrafficOptions { Seed = 37, DuplicateFraction = 0.02 });
        var database = clickHouse.CreateDatabase("drain");
        var port = FreePort.Next();
        string[] settings = ["--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}", "--set", "clickhouse.mode=server",
            "--set", $"clickhouse.url=http://127.0.0.1:{port}/", "--set", $"clickhouse.database={database}", "--set", "shutdown.timeout=2s"];
        traffic.Produce(5_000);
        var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));
        using (var engine = StreamEngineCli.Start(["run", "--job", "ad-metrics", .. settings]))
        {
            await engine.WaitForStandardErrorAsync("caught up", Patience);
            await endpoint.DisposeAsync(); // ClickHouse goes away with results still to write
            traffic.Produce(5_000);
            // The signal comes once the engine has failed to reach ClickHouse: a drain now cannot finish.
            await engine.WaitForStandardErrorAsync("retrying (the results wait", Patience);
            engine.Signal(15);
            await engine.WaitForExitAsync(Patience);
            Assert.True(engine.ExitCode == 1, $"exit {engine.ExitCode}: {engine.StandardError}");
            Assert.Contains("did not drain within shutdown.timeout (2 s)", engine.StandardError, StringComparison.Ordinal);
        }

        endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));
        await using (endpoint)
        {
            // A new group: the engine that timed out never left its group, whose partitions stay with it until the
            // session times out; positions come from ClickHouse whatever the group.
            using var next = await StreamEngineCli.RunAsync(Patience, ["run", "--job", "ad-metrics", "--until-idle", "2", .. settings, "--set", "kafka.group=after-drain"]);
            Assert.True(next.ExitCode == 0, $"exit {next.ExitCode}: {next.StandardError}");
        }

        var actual = clickHouse.Store.QueryText(GeneratedTraffic.CampaignMinuteQuery(database)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(traffic.ExpectedRows(), actual);
    }
}
