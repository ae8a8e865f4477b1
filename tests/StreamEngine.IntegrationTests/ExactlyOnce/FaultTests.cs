using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;
using Xunit.Abstractions;

namespace StreamEngine.IntegrationTests.ExactlyOnce;

/// <summary>
/// Exactly once through everything at once, with real processes: engines in one consumer group (partitions move
/// between them at each join, leave and crash), a Kafka broker taken down and brought back, ClickHouse gone for a
/// while, SIGKILLs; the engines write through the server sink (ClickHouse.Driver over HTTP) to one store behind this
/// process's ClickHouse HTTP endpoint. Each fault waits for the state it is meant to hit (an owner holding unwritten
/// results, engines failing to write), so a machine's speed cannot turn it into a no-op. After a clean drain,
/// <c>ads.campaign_minute</c> equals the reference over the topic.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class FaultTests(EmbeddedClickHouseFixture clickHouse, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Rebalances_a_broker_outage_a_ClickHouse_outage_and_SIGKILLs_leave_results_equal_to_one_clean_run()
    {
        using var folder = new TemporaryDirectory("streamengine-faults");
        var (kafka, bootstrap) = await KafkaServe.StartAdTopicsAsync(folder, 12, Patience);
        using var kafkaProcess = kafka;
        var truthFile = folder.File("truth.json");
        using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", "120000", "--rate", "2000", "--seed", "19",
            "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);

        var database = clickHouse.CreateDatabase("faults");
        var port = FreePort.Next();
        var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));
        string[] engineSettings =
        [
            "--set", $"kafka.bootstrap={bootstrap}", "--set", "kafka.group=shared", "--set", "clickhouse.mode=server",
            "--set", $"clickhouse.url=http://127.0.0.1:{port}/", "--set", $"clickhouse.database={database}",
        ];
        var engines = new List<EngineUnderTest>();
        var faults = new List<string>();
        try
        {
            async Task<EngineUnderTest> StartEngine()
            {
                var engine = await EngineUnderTest.AttachAsync(StreamEngineCli.Start(["run", "--job", "ad-metrics", .. engineSettings]), Patience);
                engines.Add(engine);
                return engine;
            }

            // Each fault waits for the state it is meant to hit, and records that it hit it: on a fast machine or a
            // slow one, a partition moves while its owner holds results it has not written, and ClickHouse is gone
            // while the engines are trying to write.
            async Task WithUnwrittenResults(EngineUnderTest engine, string fault)
            {
                await engine.UntilAsync(async () => await engine.MetricAsync("streamengine_pending_rows") > 0, $"engine {engine.Process.Id} holds unwritten results before: {fault}");
                faults.Add($"{fault} with {await engine.MetricAsync("streamengine_pending_rows")} rows unwritten");
            }

            static Task Holding(IReadOnlyList<EngineUnderTest> live, string after) => EngineUnderTest.UntilEachPartitionHeldOnceAsync(live, 12, after);

            var a = await StartEngine();
            await WithUnwrittenResults(a, "a second engine joins (a gives some partitions to b)");
            var b = await StartEngine();
            await Holding([a, b], "b joined");

            await kafka.WriteInputAsync("broker down 2\n");
            await kafka.WaitForOutputAsync(line => line == "broker 2 down", Patience);
            await Task.Delay(TimeSpan.FromSeconds(4)); // the outage's length is the fault itself, not a guess at the engines' speed
            await kafka.WriteInputAsync("broker up 2\n");
            await kafka.WaitForOutputAsync(line => line == "broker 2 up", Patience);

            // ClickHouse goes away: writes and checkpoints fail and wait; it comes back once both engines saw failures.
            var failedBefore = new[] { await a.MetricAsync("streamengine_sink_failed_attempts_total"), await b.MetricAsync("streamengine_sink_failed_attempts_total") };
            await endpoint.DisposeAsync();
            foreach (var (engine, before) in new[] { a, b }.Zip(failedBefore))
            {
                await engine.UntilAsync(async () => await engine.MetricAsync("streamengine_sink_failed_attempts_total") > before, $"engine {engine.Process.Id} fails to write while ClickHouse is gone");
            }

            faults.Add("ClickHouse gone until both engines failed to write");
            endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(port));

            await WithUnwrittenResults(a, "SIGKILL of a");
            a.Process.Signal(9); // its partitions go to b once its session times out
            await Holding([b], "a was killed");
            var c = await StartEngine();
            await Holding([b, c], "c joined");
            await WithUnwrittenResults(b, "SIGKILL of b");
            b.Process.Signal(9);
            await Holding([c], "b was killed");
            await WithUnwrittenResults(c, "SIGTERM of c");
            c.Process.Signal(15); // a clean leave: c flushes and hands its partitions back
            await c.Process.WaitForExitAsync(Patience);
            Assert.True(c.Process.ExitCode == 0, $"a SIGTERM must stop an engine cleanly: exit {c.Process.ExitCode}: {c.Process.StandardError}");

            await generate.WaitForExitAsync(Patience);
            Assert.True(generate.ExitCode == 0, generate.StandardError);
            // Each fault waited for its state (or the test failed there); what it found is in the test's output.
            output.WriteLine(string.Join('\n', faults));
            // The drain joins as a new group member: every partition resumes from the checkpoints.
            using var drain = await StreamEngineCli.RunAsync(Patience, ["run", "--job", "ad-metrics", "--until-idle", "3", .. engineSettings[..2], "--set", "kafka.group=drain", .. engineSettings[4..]]);
            Assert.True(drain.ExitCode == 0, $"exit {drain.ExitCode}: {drain.StandardError}");
            Assert.Matches(@"assigned partitions .*\d+@\d+", drain.StandardError);
        }
        finally
        {
            foreach (var engine in engines)
            {
                engine.Process.Dispose();
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
