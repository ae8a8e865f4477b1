using System.Collections.Concurrent;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.AspNetCore.SignalR.Client;
using StreamEngine.AdEvents;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.SignalR;

/// <summary>
/// Two engines in one consumer group, with NATS: a dashboard connected to either engine's hub gets the live values of
/// every partition, those the other engine holds too (each hub follows NATS, where both publish), not only its own.
/// </summary>
public sealed class ScaleOutHubTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Each_engines_hub_carries_the_partitions_the_other_engine_holds()
    {
        await using var nats = await NatsServerFixture.StartAsync(jetStream: false);
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = kafka.CreateTopic("hub-scale", 4);
        using var folderA = new TemporaryDirectory("streamengine-hub-a");
        using var folderB = new TemporaryDirectory("streamengine-hub-b");
        // Each engine binds a free port of its own (StreamEngineCli passes http.port=0) and says which in its start-up line.
        ChildProcess Start(TemporaryDirectory folder) => StreamEngineCli.Start("run", "--job", "ad-metrics",
            "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}", "--set", "kafka.group=hub-scale",
            "--set", $"clickhouse.path={folder.Path}", "--set", "clickhouse.http.port=0", "--set", $"nats.url={nats.Url}");
        using var a = await EngineUnderTest.AttachAsync(Start(folderA), Patience);
        using var b = await EngineUnderTest.AttachAsync(Start(folderB), Patience);
        try
        {
            // Traffic keyed by event id, so every partition carries part of every campaign; sent until both engines hold partitions.
            using var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build();
            var traffic = new TrafficGenerator(new TrafficOptions { Seed = 17, Campaigns = 3, KeyByEventId = true }).Messages().GetEnumerator();
            var held = await EngineUnderTest.UntilEachPartitionHeldOnceAsync([a, b], 4, "two engines joined");

            // A dashboard on engine A, watching every campaign.
            await using var hub = new HubConnectionBuilder().WithUrl(new Uri(a.Url, "hubs/metrics")).Build();
            var partitions = new ConcurrentDictionary<int, int>();
            var newest = new ConcurrentDictionary<(string Campaign, long Window, int Partition), long>();
            hub.On<JsonElement>("metrics", m =>
            {
                if (m.TryGetProperty("impressions", out var impressions) && m.TryGetProperty("partition", out var p))
                {
                    partitions.AddOrUpdate(p.GetInt32(), 1, (_, n) => n + 1);
                    newest[(m.GetProperty("campaign").GetString()!, m.GetProperty("window_start").GetDateTimeOffset().ToUnixTimeSeconds(), p.GetInt32())] = impressions.GetInt64();
                }
            });
            await hub.StartAsync();
            foreach (var campaign in new[] { "cmp-0001", "cmp-0002", "cmp-0003" })
            {
                await hub.InvokeAsync("Subscribe", campaign);
            }

            var deadline = DateTime.UtcNow + Patience;
            var produced = 0;
            while (!held.SelectMany(h => h).All(partitions.ContainsKey) && DateTime.UtcNow < deadline)
            {
                for (var i = 0; i < 400 && traffic.MoveNext(); i++, produced++)
                {
                    producer.Produce(topic, new Message<string, byte[]> { Key = traffic.Current.Key, Value = traffic.Current.Value });
                }

                producer.Flush(Patience);
                await Task.Delay(250);
            }

            // What each engine held through the test: a move in between would make "the other's partitions" meaningless.
            Assert.Equal(held[0], await a.HeldPartitionsAsync());
            Assert.Equal(held[1], await b.HeldPartitionsAsync());
            Assert.True(held[1].All(partitions.ContainsKey),
                $"engine A's hub should carry engine B's partitions {string.Join(',', held[1])} as well as its own {string.Join(',', held[0])}; it carried {string.Join(',', partitions.Keys.Order())}");

            // And the values are right: once both engines have read and written everything sent, A's hub's newest value of
            // each partition, added up per campaign and minute, equals what the two engines stored (each its partitions').
            await a.UntilAsync(async () => await a.MetricAsync("streamengine_messages_read_total") + await b.MetricAsync("streamengine_messages_read_total") >= produced &&
                                           await a.MetricAsync("streamengine_pending_rows") + await b.MetricAsync("streamengine_pending_rows") == 0,
                $"the two engines to read the {produced} messages sent and write what they make");
            async Task<string> StoredAsync()
            {
                var sums = new Dictionary<string, long>(StringComparer.Ordinal);
                foreach (var (engine, folder) in new[] { (a, folderA), (b, folderB) })
                {
                    var port = System.Text.RegularExpressions.Regex.Match(engine.Process.StandardOutput, @"ClickHouse HTTP at http://127\.0\.0\.1:(\d+)/").Groups[1].Value;
                    using var query = await StreamEngineCli.RunAsync(Patience, "query", "--set", $"clickhouse.path={folder.Path}", "--set", $"clickhouse.http.port={port}",
                        "SELECT campaign, toUnixTimestamp(window_start), impressions FROM ads.campaign_minute");
                    Assert.True(query.ExitCode == 0, query.StandardError);
                    foreach (var fields in query.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')))
                    {
                        sums[$"{fields[0]} {fields[1]}"] = sums.GetValueOrDefault($"{fields[0]} {fields[1]}") + long.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture);
                    }
                }

                return string.Join('\n', sums.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key} {s.Value}"));
            }

            string Live() => string.Join('\n', newest.ToArray().GroupBy(v => $"{v.Key.Campaign} {v.Key.Window}", StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Sum(v => v.Value)}"));
            await LiveConvergence.AssertConvergesAsync(StoredAsync, Live, Patience);
        }
        finally
        {
            a.Process.Dispose();
            b.Process.Dispose();
        }
    }
}
