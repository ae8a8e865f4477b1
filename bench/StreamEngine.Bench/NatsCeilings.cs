using System.Diagnostics;
using NATS.Client.Core;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench;

/// <summary>
/// NATS core publish and receive rates through Debian's nats-server 2.9 on loopback, 200-byte messages, one
/// publisher connection and one subscriber connection in this process.
/// </summary>
internal static class NatsCeilings
{
    public static async Task<List<Measurement>> RunAsync(int repetitions, double scale)
    {
        var count = (int)(1_000_000 * scale);
        var payload = SampleEvents.Json(42)[..200];
        await using var server = await NatsServerFixture.StartAsync(jetStream: false);
        var publishRates = new List<double>();
        var receiveRates = new List<double>();
        for (var run = 0; run < repetitions; run++)
        {
            var options = new NatsOpts { Url = server.Url, SubPendingChannelCapacity = 1_000_000, SubPendingChannelFullMode = System.Threading.Channels.BoundedChannelFullMode.Wait };
            await using var subscriber = new NatsConnection(options);
            await using var publisher = new NatsConnection(options);
            var subject = $"bench.{run}";
            await using var subscription = await subscriber.SubscribeCoreAsync<byte[]>(subject);
            await subscriber.PingAsync();
            await publisher.ConnectAsync();

            var received = 0;
            var receiving = Task.Run(async () =>
            {
                await foreach (var _ in subscription.Msgs.ReadAllAsync())
                {
                    if (++received == count)
                    {
                        return;
                    }
                }
            });

            var watch = Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                await publisher.PublishAsync(subject, payload);
            }

            await publisher.PingAsync();
            publishRates.Add(count / watch.Elapsed.TotalSeconds);
            if (await Task.WhenAny(receiving, Task.Delay(TimeSpan.FromMinutes(2))) != receiving)
            {
                throw new InvalidOperationException($"the subscriber received {received} of {count} messages in two minutes");
            }

            receiveRates.Add(count / watch.Elapsed.TotalSeconds);
            Console.Error.WriteLine(FormattableString.Invariant($"  NATS run {run}: publish {publishRates[^1]:N0} msg/s, receive {receiveRates[^1]:N0} msg/s"));
        }

        return
        [
            new Measurement($"NATS publish, {count:N0} x 200 B", "msg/s", publishRates, "NATS.Client.Core 3.3.2, PublishAsync per message, then a ping"),
            new Measurement("NATS publish -> receive, same messages", "msg/s", receiveRates, "until the subscriber holds all of them (none dropped)"),
        ];
    }
}
