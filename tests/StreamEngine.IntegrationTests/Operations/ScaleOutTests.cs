using System.Diagnostics;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.IntegrationTests.ExactlyOnce;
using StreamEngine.TestUtilities;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace StreamEngine.IntegrationTests.Operations;

/// <summary>
/// Scale-out, proven with real processes: engines in one consumer group on a 12-partition topic of the embedded
/// cluster, all writing through the server sink to one ClickHouse (this process's HTTP endpoint over the shared
/// store). One engine becomes three mid-run, one is SIGKILLed, another joins; each engine's <c>/metrics</c> says which
/// partitions it holds, and after each change the live engines hold every partition exactly once. The engines finish
/// the input themselves and <c>ads.campaign_minute</c> equals the generator's truth.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class ScaleOutTests(EmbeddedClickHouseFixture clickHouse, ITestOutputHelper output)
{
    private const int Partitions = 12;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task One_to_three_engines_a_kill_and_a_join_move_every_partition_and_the_results_equal_the_truth()
    {
        using var folder = new TemporaryDirectory("streamengine-scale");
        var (kafka, bootstrap) = await KafkaServe.StartAdTopicsAsync(folder, Partitions, Patience);
        using var kafkaProcess = kafka;
        var truthFile = folder.File("truth.json");
        using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", "60000", "--rate", "2500", "--seed", "29",
            "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);

        var database = clickHouse.CreateDatabase("scale");
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(0));
        var engines = new List<EngineUnderTest>();
        try
        {
            async Task<EngineUnderTest> Start()
            {
                var engine = await EngineUnderTest.AttachAsync(StreamEngineCli.Start("run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", "kafka.group=scale",
                    "--set", "clickhouse.mode=server", "--set", $"clickhouse.url={endpoint.Url}", "--set", $"clickhouse.database={database}"), Patience);
                engines.Add(engine);
                return engine;
            }

            var a = await Start();
            await AssertEveryPartitionHeldOnceAsync("one engine", [a]);

            var b = await Start();
            var c = await Start();
            await AssertEveryPartitionHeldOnceAsync("scaled from one to three", [a, b, c]);

            b.Process.Signal(9); // its partitions move once the group's session timeout notices
            await AssertEveryPartitionHeldOnceAsync("one of three SIGKILLed", [a, c]);

            var d = await Start();
            await AssertEveryPartitionHeldOnceAsync("a new engine joined", [a, c, d]);

            await generate.WaitForExitAsync(Patience);
            Assert.True(generate.ExitCode == 0, generate.StandardError);

            // The engines finish the input themselves: the results converge to the truth while they run.
            var truth = await Truth.ExpectedAsync(bootstrap, truthFile, Patience);
            var query = $"SELECT * FROM {database}.campaign_minute ORDER BY window_start, campaign FORMAT JSONEachRow";
            // A row that never converges says what was stored for it, and where each engine's partitions stand.
            string Explain(string window, string campaign) =>
                "; stored partials (partition, version, bids, is_final, written_at): " +
                clickHouse.Store.QueryText($"SELECT source_partition, version, bids, is_final, written_at FROM {database}.campaign_minute_results " +
                                           $"WHERE campaign = '{campaign}' AND window_start = toDateTime64('{window}', 3, 'UTC') ORDER BY source_partition, version").Replace('\n', ';') +
                "; checkpoints (partition, generation, next offset): " +
                clickHouse.Store.QueryText($"SELECT partition, argMax(generation, newest), argMax(next_offset, newest) FROM {database}.partition_checkpoints_v2 " +
                                           "GROUP BY partition ORDER BY partition").Replace('\n', ';');
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    Truth.AssertCampaignMinutesEqual(truth, clickHouse.Store.QueryText(query), Explain);
                    break;
                }
                catch (XunitException) when (deadline.Elapsed < Patience)
                {
                    await Task.Delay(500);
                }
            }

            foreach (var engine in new[] { a, c, d })
            {
                engine.Process.Signal(15);
                await engine.Process.WaitForExitAsync(Patience);
                Assert.True(engine.Process.ExitCode == 0, $"a SIGTERM must drain an engine cleanly: exit {engine.Process.ExitCode}: {engine.Process.StandardError}");
            }

            Truth.AssertCampaignMinutesEqual(truth, clickHouse.Store.QueryText(query), Explain);
            Truth.AssertRawEventsComplete(truth, clickHouse.Store.QueryText($"SELECT count(), uniqExact(event_id_hash) FROM {database}.events"));
        }
        finally
        {
            foreach (var engine in engines)
            {
                engine.Process.Dispose();
                engine.Dispose();
            }
        }
    }

    /// <summary>Waits until the live engines' <c>/metrics</c> show every partition held by exactly one of them, each holding some.</summary>
    private async Task AssertEveryPartitionHeldOnceAsync(string after, IReadOnlyList<EngineUnderTest> live)
    {
        var clock = Stopwatch.StartNew();
        var held = await EngineUnderTest.UntilEachPartitionHeldOnceAsync(live, Partitions, after);
        output.WriteLine($"{after}: every partition held once after {clock.Elapsed.TotalSeconds:F1} s ({string.Join(" | ", held.Select(h => string.Join(',', h)))})");
    }
}
