using System.Collections.Concurrent;
using System.Text.Json;
using NATS.Client.Core;
using StreamEngine.AdEvents;
using StreamEngine.IntegrationTests.Jobs;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Nats;

/// <summary>
/// Live metrics on a real nats-server: <c>run --job ad-metrics --set nats.url=...</c> publishes every active campaign
/// on <c>adtrack.metrics.campaign.CAMPAIGN</c> with the contract's fields, and the last value a subscriber holds per
/// campaign and minute equals <c>ads.campaign_minute</c>.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class LiveMetricsTests(EmbeddedClickHouseFixture clickHouse)
{
    [Fact]
    public async Task Campaign_metrics_reach_a_NATS_subscriber_and_end_where_ClickHouse_ends()
    {
        await using var server = await NatsServerFixture.StartAsync(jetStream: false);
        await using var subscriber = new NatsConnection(new NatsOpts { Url = server.Url });
        var received = new ConcurrentDictionary<(string Campaign, string Window), JsonElement>();
        var subjectsMatch = true;
        var correlated = true;
        using var listening = new CancellationTokenSource();
        // Subscribed (registered with the server) before the engine starts.
        await using var campaigns = await subscriber.SubscribeCoreAsync<byte[]>("adtrack.metrics.campaign.>");
        var subscription = Task.Run(async () =>
        {
            await foreach (var message in campaigns.Msgs.ReadAllAsync(listening.Token))
            {
                var json = JsonDocument.Parse(message.Data!).RootElement.Clone();
                var campaign = json.GetProperty("campaign").GetString()!;
                subjectsMatch &= message.Subject == $"adtrack.metrics.campaign.{campaign}";
                // The id of the batch of results the value belongs to (also on its ClickHouse inserts and log lines).
                correlated &= message.Headers?[StreamEngine.Nats.LivePublisher.CorrelationHeader] is { Count: 1 } id && System.Text.RegularExpressions.Regex.IsMatch(id[0]!, "^[0-9a-f]{16}$");
                received[(campaign, json.GetProperty("window_start").GetDateTimeOffset().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture))] = json;
            }
        });

        var (database, _, _) = await JobRun.RunAsync("ad-metrics", clickHouse.Store, "live", new TrafficOptions { Seed = 5, Campaigns = 20 }, 10_000,
            partitions: 4, settings: [$"nats.url={server.Url}"]);
        var expected = JobRun.Rows(clickHouse.Store, $"SELECT campaign, toUnixTimestamp(window_start), impressions, clicks, spend_micros FROM {database}.campaign_minute", 2);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (received.Count < expected.Count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        await listening.CancelAsync();
        await Task.WhenAny(subscription, Task.Delay(1000));
        // Conflated per campaign and minute: each minute's last value arrives, the intermediate ones may not.
        Assert.True(subjectsMatch, "every message's subject names its campaign");
        Assert.True(correlated, "every message carries its batch's correlation id in a Correlation-Id header");
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), received.Keys.Select(k => $"{k.Campaign} {k.Window}").Order(StringComparer.Ordinal));
        foreach (var ((campaign, window), json) in received)
        {
            var row = expected[$"{campaign} {window}"];
            Assert.Equal(string.Join(' ', row[2..]), $"{json.GetProperty("impressions").GetInt64()} {json.GetProperty("clicks").GetInt64()} {json.GetProperty("spend_micros").GetInt64()}");
            Assert.True(json.TryGetProperty("ctr", out _) && json.TryGetProperty("ecpm_micros", out _));
        }
    }

    [Fact]
    public async Task With_JetStream_a_late_subscriber_reads_the_recent_history()
    {
        await using var server = await NatsServerFixture.StartAsync(jetStream: true);
        await using (var publisher = new StreamEngine.Nats.LivePublisher(new StreamEngine.Nats.LivePublisherOptions { Url = server.Url, JetStream = true }))
        {
            publisher.Offer("adtrack.metrics.campaign.cmp-7", 60_000, """{"campaign":"cmp-7","impressions":3}"""u8.ToArray());
            publisher.Alert("adtrack.alerts.pacing", "cmp-7", """{"campaign":"cmp-7","status":"over"}"""u8.ToArray());
        } // disposing sends what is left

        // Connected only now, after everything was published: the stream still has it.
        await using var late = new NatsConnection(new NatsOpts { Url = server.Url });
        var js = new NATS.Client.JetStream.NatsJSContext(late);
        var consumer = await js.CreateOrderedConsumerAsync("ADTRACK");
        var subjects = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var message = await consumer.NextAsync<byte[]>() ?? throw new InvalidOperationException("the stream ran out");
            subjects.Add(message.Subject);
        }

        Assert.Equal(["adtrack.alerts.pacing", "adtrack.metrics.campaign.cmp-7"], subjects.Order(StringComparer.Ordinal));
    }
}
