using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>
/// Exactly once through everything at once, with real processes: engines in one consumer group (partitions move
/// between them at each join, leave and crash), a Kafka broker taken down and brought back, ClickHouse gone for a
/// while, SIGKILLs; the engines write through the server sink (ClickHouse.Driver over HTTP) to one store behind this
/// process's ClickHouse HTTP endpoint. After a clean drain, <c>ads.campaign_minute</c> equals the generator's truth.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class FaultTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Rebalances_a_broker_outage_a_ClickHouse_outage_and_SIGKILLs_leave_results_equal_to_one_clean_run()
    {
        using var folder = new TemporaryDirectory("streamengine-faults");
        var (kafka, bootstrap) = await KafkaServe.StartAdTopicsAsync(folder, 12, Patience);
        using var kafkaProcess = kafka;
        var truthFile = folder.File("truth.json");
        using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", "50000", "--rate", "2000", "--seed", "19",
            "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);

        var database = clickHouse.CreateDatabase("faults");
        var port = FreePort.Next();
        var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));
        string[] engineSettings =
        [
            "--set", $"kafka.bootstrap={bootstrap}", "--set", "kafka.group=shared", "--set", "clickhouse.mode=server",
            "--set", $"clickhouse.url=http://127.0.0.1:{port}/", "--set", $"clickhouse.database={database}",
        ];
        var engines = new List<ChildProcess>();
        try
        {
            async Task<ChildProcess> StartEngine()
            {
                var engine = StreamEngineCli.Start(["run", "--job", "ad-metrics", .. engineSettings]);
                engines.Add(engine);
                await engine.WaitForOutputAsync(line => line.StartsWith("streamengine run:", StringComparison.Ordinal), Patience);
                return engine;
            }

            var a = await StartEngine();
            await Task.Delay(TimeSpan.FromSeconds(3));
            var b = await StartEngine(); // the group splits the partitions: a gives some to b
            await b.WaitForStandardErrorAsync("assigned partitions", Patience);
            await Task.Delay(TimeSpan.FromSeconds(2));

            await kafka.WriteInputAsync("broker down 2\n");
            await kafka.WaitForOutputAsync(line => line == "broker 2 down", Patience);
            await Task.Delay(TimeSpan.FromSeconds(4));
            await kafka.WriteInputAsync("broker up 2\n");
            await kafka.WaitForOutputAsync(line => line == "broker 2 up", Patience);

            await endpoint.DisposeAsync(); // ClickHouse goes away: writes and checkpoints wait
            await Task.Delay(TimeSpan.FromSeconds(4));
            endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));

            a.Signal(9); // its partitions go to b once its session times out
            await Task.Delay(TimeSpan.FromSeconds(3));
            var c = await StartEngine();
            await Task.Delay(TimeSpan.FromSeconds(4));
            b.Signal(9);
            await Task.Delay(TimeSpan.FromSeconds(2));
            c.Signal(15); // a clean leave: c flushes and hands its partitions back
            await c.WaitForExitAsync(Patience);
            Assert.True(c.ExitCode == 0, $"a SIGTERM must stop an engine cleanly: exit {c.ExitCode}: {c.StandardError}");

            await generate.WaitForExitAsync(Patience);
            Assert.True(generate.ExitCode == 0, generate.StandardError);
            // The drain joins as a new group member: every partition resumes from the checkpoints.
            using var drain = await StreamEngineCli.RunAsync(Patience, ["run", "--job", "ad-metrics", "--until-idle", "3", .. engineSettings[..2], "--set", "kafka.group=drain", .. engineSettings[4..]]);
            Assert.True(drain.ExitCode == 0, $"exit {drain.ExitCode}: {drain.StandardError}");
            Assert.Matches(@"assigned partitions .*\d+@\d+", drain.StandardError);
        }
        finally
        {
            foreach (var engine in engines)
            {
                engine.Dispose();
            }

            await endpoint.DisposeAsync();
        }

        var actual = clickHouse.Store.QueryText($"SELECT * FROM {database}.campaign_minute ORDER BY window_start, campaign FORMAT JSONEachRow");
        var expected = await Truth.ExpectedAsync(bootstrap, truthFile, Patience);
        Truth.AssertCampaignMinutesEqual(expected, actual, (window, campaign) => "; stored partials (partition, version, bids, unique_users, is_final, written_at): " +
            clickHouse.Store.QueryText($"SELECT source_partition, version, bids, unique_users, is_final, written_at FROM {database}.campaign_minute_results " +
                                       $"WHERE campaign = '{campaign}' AND window_start = toDateTime64('{window}', 3, 'UTC') ORDER BY source_partition, version").Replace('\n', ';'));
        Truth.AssertRawEventsComplete(expected, clickHouse.Store.QueryText($"SELECT count(), uniqExact(event_id_hash) FROM {database}.events"));
        Assert.Equal("0", clickHouse.Store.QueryText(Truth.BreakdownMismatches("ads.ad_minute", database)).Trim());
        Assert.Equal("0", clickHouse.Store.QueryText(Truth.BreakdownMismatches("ads.campaign_geo_device_minute", database)).Trim());
        var partitions = clickHouse.Store.QueryText($"SELECT uniqExact(partition) FROM {database}.{StreamEngine.ClickHouse.Sink.CheckpointStore.TableName}").Trim();
        Assert.Equal("12", partitions);
    }
}
