using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.SignalR.Client;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Host.Live;
using StreamEngine.Host.Observability;

namespace StreamEngine.IntegrationTests.SignalR;

/// <summary>
/// The hub on a real server with 200 clients of one campaign, 20 of which stop reading once subscribed (sockets
/// with a tiny receive buffer that are never read again): the 180 others get every value, the 20 are disconnected
/// once a send to them stalls, and what waited for them is dropped, not kept.
/// </summary>
public sealed class HubFanoutLoadTests
{
    private const int Healthy = 180;
    private const int Stuck = 20;
    private const int Values = 600;

    [Fact]
    public async Task Twenty_clients_that_never_read_are_dropped_while_the_other_180_get_every_value()
    {
        await using var host = await EngineHttpHost.StartAsync(new EngineHttpOptions { Port = 0, Fanout = new HubFanoutOptions { SendTimeout = TimeSpan.FromSeconds(2) } }, () => []);
        var received = new ConcurrentDictionary<int, ConcurrentBag<long>>();
        var clients = new List<HubConnection>();
        var stuck = new List<Socket>();
        try
        {
            for (var i = 0; i < Healthy; i++)
            {
                var client = i;
                var connection = new HubConnectionBuilder().WithUrl(new Uri(host.Url, "hubs/metrics")).Build();
                connection.On<Dictionary<string, System.Text.Json.JsonElement>>("metrics", m => received.GetOrAdd(client, _ => []).Add(m["n"].GetInt64()));
                await connection.StartAsync();
                await connection.InvokeAsync("Subscribe", "cmp-1");
                clients.Add(connection);
            }

            for (var i = 0; i < Stuck; i++)
            {
                stuck.Add(await SubscribeAndStopReadingAsync(host.Url, "cmp-1"));
            }

            // Values large enough (4 KB) and in distinct windows (nothing to conflate) to fill a stalled socket.
            var pad = new string('x', 4096);
            for (var n = 1; n <= Values; n++)
            {
                host.Fanout.Offer(new LiveUpdate(AdLiveTopics.CampaignMetrics, "cmp-1", n * 60_000L, Encoding.UTF8.GetBytes($$"""{"campaign":"cmp-1","n":{{n}},"pad":"{{pad}}"}""")));
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while ((received.Count < Healthy || received.Values.Any(r => r.Count < Values) || host.Fanout.Counters.Disconnected < Stuck) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            var counters = host.Fanout.Counters;
            Assert.Equal(Healthy, received.Count);
            Assert.All(received, r => Assert.Equal(Enumerable.Range(1, Values).Select(n => (long)n), r.Value.Order()));
            Assert.True(counters.Disconnected == Stuck, $"only the clients that never read are disconnected: {counters}");
            Assert.True(counters.Dropped > 0, $"what waited for them is dropped: {counters}");
            Assert.All(clients, c => Assert.Equal(HubConnectionState.Connected, c.State));
            Assert.Equal(Healthy, host.Fanout.Connections);
        }
        finally
        {
            foreach (var connection in clients)
            {
                await connection.DisposeAsync();
            }

            stuck.ForEach(s => s.Dispose());
        }
    }

    /// <summary>
    /// A WebSocket client by hand, with a receive buffer of a few KB: it upgrades, does the SignalR JSON handshake,
    /// subscribes (waiting for the invocation's completion), and then never reads again.
    /// </summary>
    private static async Task<Socket> SubscribeAndStopReadingAsync(Uri hub, string campaign)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 2048 };
        await socket.ConnectAsync("127.0.0.1", hub.Port);
        var upgrade = $"GET /hubs/metrics HTTP/1.1\r\nHost: 127.0.0.1:{hub.Port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(upgrade));
        await ReadUntilAsync(socket, "\r\n\r\n");
        await socket.SendAsync(Frame("{\"protocol\":\"json\",\"version\":1}\u001e"));
        await socket.SendAsync(Frame($"{{\"type\":1,\"invocationId\":\"1\",\"target\":\"Subscribe\",\"arguments\":[\"{campaign}\"]}}\u001e"));
        await ReadUntilAsync(socket, "\"type\":3"); // the completion of Subscribe: subscribed
        return socket;
    }

    private static async Task ReadUntilAsync(Socket socket, string marker)
    {
        var seen = new StringBuilder();
        var buffer = new byte[1024];
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!seen.ToString().Contains(marker, StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, patience.Token);
            Assert.True(read > 0, $"the server closed before '{marker}': {seen}");
            seen.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }
    }

    /// <summary>A masked text frame, as a client must send it.</summary>
    private static byte[] Frame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        var frame = new List<byte> { 0x81 };
        if (payload.Length < 126)
        {
            frame.Add((byte)(0x80 | payload.Length));
        }
        else
        {
            frame.AddRange([0x80 | 126, (byte)(payload.Length >> 8), (byte)payload.Length]);
        }

        byte[] mask = [0x12, 0x34, 0x56, 0x78];
        frame.AddRange(mask);
        frame.AddRange(payload.Select((b, i) => (byte)(b ^ mask[i % 4])));
        return [.. frame];
    }
}
