using Confluent.Kafka;
using StreamEngine.Core.AdEvents;
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
        var truth = new CampaignMinuteTruth();
        using (var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build())
        {
            foreach (var message in new TrafficGenerator(new TrafficOptions { Seed = 11, DuplicateFraction = 0.02 }).Messages().Take(20_000))
            {
                producer.Produce(topic, new Message<string, byte[]> { Key = message.Key, Value = message.Value });
                truth.Add(message);
            }

            producer.Flush(Patience);
        }

        var database = clickHouse.CreateDatabase("server_sink");
        var port = FreePort.Next();
        var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, new ClickHouseHttpOptions { Port = port });
        using var engine = StreamEngineCli.Start("run", "--job", "ad-metrics", "--until-idle", "3",
            "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}",
            "--set", "clickhouse.mode=server", "--set", $"clickhouse.url=http://127.0.0.1:{port}/", "--set", $"clickhouse.database={database}");
        await engine.WaitForOutputAsync(line => line.StartsWith("streamengine run:", StringComparison.Ordinal), Patience);

        // ClickHouse goes away mid-run: inserts and checkpoints fail and are retried; then it is back.
        await endpoint.DisposeAsync();
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.False(engine.HasExited, $"the engine must wait for ClickHouse, not stop: {engine.StandardError}");
        endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, new ClickHouseHttpOptions { Port = port });
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

        var actual = clickHouse.Store.QueryText(
                $"SELECT toUnixTimestamp(window_start) * 1000, campaign, bids, wins, impressions, clicks, conversions, spend_micros FROM {database}.campaign_minute ORDER BY 1, 2")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var expected = truth.Rows().Select(r => $"{r.WindowStartMs}\t{r.Campaign}\t{r.Bids}\t{r.Wins}\t{r.Impressions}\t{r.Clicks}\t{r.Conversions}\t{r.SpendMicros}");
        Assert.Equal(expected, actual);
    }
}
