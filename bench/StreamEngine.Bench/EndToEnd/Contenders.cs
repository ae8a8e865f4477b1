using System.Reactive.Linq;
using System.Reactive.Subjects;
using Confluent.Kafka;
using Microsoft.AspNetCore.SignalR.Client;
using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;
using StreamEngine.Kafka;
using StreamEngine.Runtime;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench.EndToEnd;

/// <summary>
/// Where the engine's time went, from its own instruments: checkpoints (sink writes and offsets) and each table's
/// writes, summed while the run lasts.
/// </summary>
internal sealed class SpentTime : IDisposable
{
    private const string CheckpointName = "streamengine_checkpoint_duration_seconds";
    private const string SinkWriteName = "streamengine_sink_write_duration_seconds";
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, double> _seconds = new();

    public SpentTime()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // By name: the instruments may be created (and published) while this very callback runs.
            if (instrument.Meter.Name == StreamEngine.Core.Telemetry.EngineTelemetry.Name && instrument.Name is CheckpointName or SinkWriteName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((instrument, seconds, tags, _) =>
        {
            var name = instrument.Name == CheckpointName ? "checkpoints" : $"writes to {tags[0].Value}";
            _seconds.AddOrUpdate(name, seconds, (_, sum) => sum + seconds);
        });
        _listener.Start();
    }

    /// <summary>Each part's seconds and share of <paramref name="total"/>.</summary>
    public string Describe(double total) =>
        "time in " + string.Join(", ", _seconds.OrderByDescending(s => s.Value).Select(s => FormattableString.Invariant($"{s.Key} {s.Value:F1} s ({s.Value / total:P0})")));

    public void Dispose() => _listener.Dispose();
}

/// <summary>
/// The managed heap's peak committed bytes over a run (sampled every 250 ms), beside the process's peak RSS the
/// harness reports: how much of the resident memory the collector holds.
/// </summary>
internal sealed class HeapPeak : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;
    private long _committed;

    public HeapPeak() => _sampling = SampleAsync();

    public string Describe() => FormattableString.Invariant($"peak GC heap committed {_committed / 1048576.0:N0} MiB");

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            _committed = Math.Max(_committed, GC.GetGCMemoryInfo().TotalCommittedBytes);
            try
            {
                await Task.Delay(250, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampling;
        _stop.Dispose();
    }
}

/// <summary>
/// A ClickHouse store that drops every insert: the schema and the queries go to a real (empty) store, so the job
/// starts and checks its tables as usual, but no row is ever stored (no checkpoint is read back). The engine's null
/// sink, for comparing with peers that write nowhere; batches are still built and handed over.
/// </summary>
internal sealed class DiscardingStore(IClickHouseStore schema) : IClickHouseStore
{
    private long _rows;

    public long Rows => Interlocked.Read(ref _rows);

    public string Description => "a null sink (inserts discarded)";

    public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default) => schema.ExecuteAsync(sql, cancellationToken);

    public Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default) => schema.QueryAsync(sql, cancellationToken);


    public Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default) => schema.QueryJsonRowsAsync(sql, cancellationToken);

    public Task InsertAsync(string table, Apache.Arrow.RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Interlocked.Add(ref _rows, batch.Length);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => schema.DisposeAsync();
}

/// <summary>Where a contender reads: the preloaded topic and how many messages it holds.</summary>
internal sealed record RunTarget(string Bootstrap, string Topic, int Partitions, long Messages);

/// <summary>
/// The contenders that run in the harness's child processes (one process per run, so CPU and peak memory are each
/// one's own): two ceilings (a raw read, a hand-written loop), a naive Rx pipeline, and StreamEngine's ad-metrics job
/// with everything on. Streamiz.Kafka.Net is in <see cref="StreamizContender"/>.
/// </summary>
internal static class Contenders
{
    public static async Task<RunResult> RunAsync(string contender, RunTarget target, string applicationId) => contender switch
    {
        "raw" => ReadLoop(target, "raw", (message, index) => { }),
        "hand" => HandLoop(target),
        "naive-rx" => NaiveRx(target),
        "streamiz-rocksdb" => await StreamizContender.RunAsync(target, inMemory: false, applicationId),
        "streamiz-memory" => await StreamizContender.RunAsync(target, inMemory: true, applicationId),
        "engine" => await EngineAsync(target, nullSink: false),
        "engine-null-sink" => await EngineAsync(target, nullSink: true),
        "engine-source" => await SourceAloneAsync(target),
        _ => throw new ArgumentException($"unknown contender '{contender}'"),
    };

    /// <summary>A consumer with every partition assigned from the beginning, no group (the ceilings and the naive pipeline).</summary>
    public static IConsumer<byte[], byte[]> AssignedConsumer(RunTarget target)
    {
        Librdkafka.EnsureLoaded();
        var config = new ConsumerConfig { BootstrapServers = target.Bootstrap, GroupId = $"bench-{Guid.NewGuid():N}", EnableAutoCommit = false, EnableAutoOffsetStore = false };
        config.Set("fetch.queue.backoff.ms", "100"); // DESIGN.md: librdkafka's 1000 ms default caps every consumer here
        var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        consumer.Assign(Enumerable.Range(0, target.Partitions).Select(p => new TopicPartitionOffset(target.Topic, p, Offset.Beginning)));
        return consumer;
    }

    /// <summary>Reads every message, handing each to <paramref name="each"/>.</summary>
    private static RunResult ReadLoop(RunTarget target, string name, Action<ConsumeResult<byte[], byte[]>, long> each, Action? done = null)
    {
        using var consumer = AssignedConsumer(target);
        var clock = new RunClock();
        long read = 0;
        while (read < target.Messages)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is not { } result)
            {
                continue;
            }

            if (read == 0)
            {
                clock.First();
            }

            each(result, read++);
        }

        done?.Invoke();
        clock.Last();
        return clock.Result(name, read);
    }

    /// <summary>Consume, decode (the engine's decoder), add to a dictionary per campaign and minute: nothing else.</summary>
    private static RunResult HandLoop(RunTarget target)
    {
        var decoder = new AdEventDecoder(new SymbolTable());
        var totals = new Dictionary<(int Campaign, long Minute), CampaignTotals>();
        long invalid = 0;
        var result = ReadLoop(target, "hand", (message, index) =>
        {
            if (!decoder.TryDecode(message.Message.Value, out var e, out _))
            {
                invalid++;
                return;
            }

            var key = (e.Campaign, CampaignTotals.Minute(e.TimestampMs));
            if (!totals.TryGetValue(key, out var sum))
            {
                totals[key] = sum = new CampaignTotals();
            }

            sum.Add(e);
        });
        return result with { Note = $"{totals.Count:N0} campaign minutes, {totals.Values.Sum(t => t.Events):N0} events counted, {invalid:N0} invalid" };
    }

    /// <summary>
    /// The naive Rx way: every message an OnNext into a subject, decoded, grouped per (campaign, minute) with GroupBy,
    /// each group aggregated; the groups' totals come out when the input completes.
    /// </summary>
    private static RunResult NaiveRx(RunTarget target)
    {
        var decoder = new AdEventDecoder(new SymbolTable());
        using var input = new Subject<byte[]>();
        long groups = 0, counted = 0;
        using var subscription = input
            .Select(value => decoder.TryDecode(value, out var e, out _) ? e : (AdEvent?)null)
            .Where(e => e is not null)
            .Select(e => e!.Value)
            .GroupBy(e => (e.Campaign, Minute: CampaignTotals.Minute(e.TimestampMs)))
            .SelectMany(group => group.Aggregate(new CampaignTotals(), (sum, e) => sum.Add(e)))
            .Subscribe(sum =>
            {
                groups++;
                counted += sum.Events;
            });
        var result = ReadLoop(target, "naive-rx", (message, index) => input.OnNext(message.Message.Value), input.OnCompleted);
        return result with { Note = $"{groups:N0} campaign minutes, {counted:N0} events counted" };
    }

    /// <summary>
    /// The engine's Kafka source alone, as the job runs it (consumer group, decode on the poll thread, dead letters
    /// confirmed before a batch goes on), its batches taken and dropped: the ceiling of everything behind it.
    /// </summary>
    private static async Task<RunResult> SourceAloneAsync(RunTarget target)
    {
        var options = new StreamEngine.Kafka.Source.KafkaSourceOptions
        {
            BootstrapServers = target.Bootstrap, GroupId = $"bench-{Guid.NewGuid():N}", Topic = target.Topic, DeadLetterTopic = $"{target.Topic}.dlq",
        };
        await using var source = new StreamEngine.Kafka.Source.KafkaSource<AdEvent>(options, new StreamEngine.Core.Events.FromTheBeginning(), new AdEventFormat(new SymbolTable()));
        var clock = new RunClock();
        long events = 0, messages = 0;
        source.Start();
        await foreach (var signal in source.Signals.ReadAllAsync())
        {
            if (signal is StreamEngine.Kafka.Source.EventsPolled<AdEvent> { Batch.Kind: StreamEngine.Core.Events.EventBatchKind.Events } polled)
            {
                if (!clock.Started)
                {
                    clock.First();
                }

                events += polled.Batch.Count;
                messages = source.Counters.MessagesIn;
                if (messages >= target.Messages)
                {
                    break;
                }
            }
        }

        clock.Last();
        return clock.Result("engine-source", messages) with { Note = $"{events:N0} events decoded, {source.Counters.DeadLettered:N0} dead-lettered, {source.Counters.Pauses:N0} pauses" };
    }

    /// <summary>
    /// StreamEngine's ad-metrics job as <c>run</c> runs it: consumer group, decode, dead-lettering, dedup, the
    /// campaign-minute and breakdown aggregations, exactly-once checkpoints to the embedded ClickHouse with the raw
    /// events, live values to NATS and to a connected SignalR client. Ends when every partition has been read to its
    /// end and the checkpoint covering it is stored; then the stored events are checked against the input.
    /// </summary>
    /// <param name="target">The preloaded topic.</param>
    /// <param name="nullSink">
    /// Everything the same, but the store drops what it is given (<see cref="DiscardingStore"/>): the engine with a
    /// null sink, beside the peers' null sinks.
    /// </param>
    private static async Task<RunResult> EngineAsync(RunTarget target, bool nullSink)
    {
        await using var natsServer = await NatsServerFixture.StartAsync(jetStream: false);
        using var folder = new TemporaryDirectory("streamengine-bench-e2e");
        using var clickHouse = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = folder.Path });
        await using IClickHouseStore store = nullSink ? new DiscardingStore(new EmbeddedStore(clickHouse, ownsConnection: false)) : new EmbeddedStore(clickHouse, ownsConnection: false);
        // BENCH_SET="key=value;key=value" changes engine settings (clickhouse.raw_events=false, say), to see where time goes.
        string[] extra = Environment.GetEnvironmentVariable("BENCH_SET") is { Length: > 0 } set ? set.Split(';') : [];
        var settings = EngineSettings.Load(
            [$"kafka.bootstrap={target.Bootstrap}", $"kafka.topic={target.Topic}", $"kafka.group=bench-{Guid.NewGuid():N}", $"nats.url={natsServer.Url}", .. extra],
            new Dictionary<string, string>());
        using var spent = new SpentTime();
        await using var heap = new HeapPeak();
        var running = new List<IRunningJob>();
        await using var http = await EngineHttpHost.StartAsync(new EngineHttpOptions { Port = 0 }, () => running);
        await using var nats = new StreamEngine.Nats.LivePublisher(settings.NatsOptions!);
        await using var dashboard = new HubConnectionBuilder().WithUrl(new Uri(http.Url, "hubs/metrics")).Build();
        long pushed = 0;
        dashboard.On<Dictionary<string, object?>>("metrics", _ => Interlocked.Increment(ref pushed));
        await dashboard.StartAsync();
        await dashboard.InvokeAsync("Subscribe", "cmp-0001"); // the busiest campaign

        var clock = new RunClock();
        var pipeline = await JobCatalog.StartAsync(new AdMetricsJob(), settings, store, EngineLog.None, forgetPositions: false, CancellationToken.None,
            new LiveSinks([nats, http.Fanout]));
        running.Add(pipeline);
        using var stop = new CancellationTokenSource();
        var loop = pipeline.RunAsync(null, stop.Token);
        while (pipeline.CaughtUpAfter is null && !loop.IsCompleted)
        {
            if (!clock.Started && pipeline.Status.MessagesIn > 0)
            {
                clock.First();
            }

            await Task.Delay(10);
        }

        clock.Last();
        var status = pipeline.Status;
        await stop.CancelAsync();
        if (await loop is { } failure)
        {
            throw new InvalidOperationException($"the job failed: {failure.Message}", failure);
        }

        await pipeline.DisposeAsync();
        var stored = nullSink ? $"{((DiscardingStore)store).Rows:N0} rows discarded by the null sink, no" :
            settings.Flag("clickhouse.raw_events") ? clickHouse.QueryText("SELECT count() FROM ads.events").Trim() : "no";
        var name = nullSink ? "engine-null-sink" : "engine";
        var result = clock.Result(extra.Length == 0 ? name : $"{name} ({string.Join(", ", extra)})", status.MessagesIn, "");
        return result with
        {
            Note = $"{status.Events:N0} events, {status.DeadLettered:N0} dead-lettered, {status.SourcePauses:N0} source pauses, {status.ResultRows:N0} result rows, {stored} raw events stored, " +
                   $"{nats.Counters.Published:N0} NATS messages, {Interlocked.Read(ref pushed):N0} SignalR pushes; {heap.Describe()}; {spent.Describe(result.Seconds)}",
        };
    }
}
