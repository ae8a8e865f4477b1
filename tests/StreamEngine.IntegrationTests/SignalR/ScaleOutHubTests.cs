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
            hub.On<JsonElement>("metrics", m =>
            {
                if (m.TryGetProperty("impressions", out _) && m.TryGetProperty("partition", out var p))
                {
                    partitions.AddOrUpdate(p.GetInt32(), 1, (_, n) => n + 1);
                }
            });
            await hub.StartAsync();
            foreach (var campaign in new[] { "cmp-0001", "cmp-0002", "cmp-0003" })
            {
                await hub.InvokeAsync("Subscribe", campaign);
            }

            var deadline = DateTime.UtcNow + Patience;
            while (!held.SelectMany(h => h).All(partitions.ContainsKey) && DateTime.UtcNow < deadline)
            {
                for (var i = 0; i < 400 && traffic.MoveNext(); i++)
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
        }
        finally
        {
            a.Process.Dispose();
            b.Process.Dispose();
        }
    }
}
