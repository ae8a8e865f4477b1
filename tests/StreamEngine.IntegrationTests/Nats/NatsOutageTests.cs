using NATS.Client.Core;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Nats;

/// <summary>
/// nats-server killed under a running <c>streamengine run</c> while traffic arrives: the pipeline goes on at the
/// traffic's pace (results keep being stored, the lag stays small), nothing waits for NATS, and once the server is
/// back the live values reach a subscriber again without restarting anything.
/// </summary>
public sealed class NatsOutageTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private const int Rate = 1_500;

    [Fact]
    public async Task Killing_nats_server_under_a_running_engine_slows_nothing_and_live_values_come_back()
    {
        using var folder = new TemporaryDirectory("streamengine-nats-outage");
        var (kafka, bootstrap) = await KafkaServe.StartAdTopicsAsync(folder, partitions: 4, Patience);
        using var kafkaProcess = kafka;
        await using var nats = await NatsServerFixture.StartAsync(jetStream: false, restartable: true);
        await using var subscriber = new NatsConnection(new NatsOpts { Url = nats.Url, MaxReconnectRetry = -1, ReconnectWaitMin = TimeSpan.FromMilliseconds(100) });
        await using var live = await subscriber.SubscribeCoreAsync<byte[]>("adtrack.metrics.campaign.>");
        long received = 0;
        using var listening = new CancellationTokenSource();
        var counting = Task.Run(async () =>
        {
            await foreach (var _ in live.Msgs.ReadAllAsync(listening.Token))
            {
                Interlocked.Increment(ref received);
            }
        });

        using var generate = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", (Rate * 120).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--rate", Rate.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seed", "21");
        using var process = StreamEngineCli.Start("run", "--job", "ad-metrics", "--set", $"kafka.bootstrap={bootstrap}", "--set", $"clickhouse.path={folder.File("clickhouse")}",
            "--set", "clickhouse.http.port=0", "--set", $"nats.url={nats.Url}", "--set", "log.format=text");
        using var engine = await EngineUnderTest.AttachAsync(process, Patience);
        await engine.UntilAsync(() => Task.FromResult(Interlocked.Read(ref received) > 0), "live values reach the subscriber");

        nats.Stop(); // SIGKILL
        var batches = await engine.MetricAsync("streamengine_sink_batches_total");
        var read = await engine.MetricAsync("streamengine_messages_read_total");
        // Five checkpoints (about 10 s) and ten seconds of traffic read while NATS is away.
        await engine.UntilAsync(async () => await engine.MetricAsync("streamengine_sink_batches_total") >= batches + 5
                                            && await engine.MetricAsync("streamengine_messages_read_total") >= read + 10 * Rate,
            "results stored and traffic read while NATS is down");
        Assert.False(generate.HasExited, "the traffic ran out before the outage was over: the test proves nothing");
        // At the traffic's pace: no more behind than a few seconds of it (the lag comes from statistics every 5 s).
        var lag = await engine.MetricAsync("streamengine_consumer_lag_messages");
        Assert.True(lag <= 5 * Rate, $"lag {lag} during the outage");

        var before = Interlocked.Read(ref received);
        await nats.RestartAsync(jetStream: false);
        await engine.UntilAsync(() => Task.FromResult(Interlocked.Read(ref received) > before + 10), "live values reach the subscriber again after the restart");

        process.Signal(15);
        await process.WaitForExitAsync(Patience);
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {process.StandardError}");
        await listening.CancelAsync();
        await Task.WhenAny(counting, Task.Delay(1000));
    }
}
