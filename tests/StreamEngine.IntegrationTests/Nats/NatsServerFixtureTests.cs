using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Nats;

/// <summary>The fixture starts a real nats-server (with JetStream) that clients can use, and stops it.</summary>
public sealed class NatsServerFixtureTests
{
    [Fact]
    public async Task A_subscriber_receives_what_a_publisher_sends_through_the_fixture_server()
    {
        await using var server = await NatsServerFixture.StartAsync();
        await using var subscriber = new NatsConnection(new NatsOpts { Url = server.Url });
        await using var publisher = new NatsConnection(new NatsOpts { Url = server.Url });
        await using var subscription = await subscriber.SubscribeCoreAsync<string>("adtrack.metrics.campaign.>");
        await subscriber.PingAsync();

        await publisher.PublishAsync("adtrack.metrics.campaign.c1", "{\"impressions\":3}");
        await publisher.PublishAsync("adtrack.metrics.slot.s1", "not for this subscriber");
        await publisher.PublishAsync("adtrack.metrics.campaign.c2", "{\"impressions\":5}");

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new List<(string Subject, string? Data)>();
        await foreach (var message in subscription.Msgs.ReadAllAsync(timeout.Token))
        {
            received.Add((message.Subject, message.Data));
            if (received.Count == 2)
            {
                break;
            }
        }

        Assert.Equal([("adtrack.metrics.campaign.c1", "{\"impressions\":3}"), ("adtrack.metrics.campaign.c2", "{\"impressions\":5}")], received);
    }

    [Fact]
    public async Task JetStream_keeps_messages_for_late_subscribers()
    {
        await using var server = await NatsServerFixture.StartAsync(jetStream: true);
        await using var connection = new NatsConnection(new NatsOpts { Url = server.Url });
        var jetStream = new NatsJSContext(connection);
        await jetStream.CreateStreamAsync(new StreamConfig("METRICS", ["adtrack.metrics.>"]) { MaxAge = TimeSpan.FromMinutes(5) });

        for (var i = 0; i < 5; i++)
        {
            var ack = await jetStream.PublishAsync($"adtrack.metrics.campaign.c{i}", $"m{i}");
            ack.EnsureSuccess();
        }

        var stream = await jetStream.GetStreamAsync("METRICS");
        Assert.Equal(5L, (long)stream.Info.State.Messages);
    }

    [Fact]
    public async Task Stopping_the_server_frees_its_port()
    {
        var server = await NatsServerFixture.StartAsync(jetStream: false);
        var port = server.Port;

        await server.DisposeAsync();

        using var client = new System.Net.Sockets.TcpClient();
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => client.ConnectAsync(System.Net.IPAddress.Loopback, port));
    }
}
