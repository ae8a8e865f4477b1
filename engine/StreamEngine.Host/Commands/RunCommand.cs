using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Runtime.InteropServices;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;
using StreamEngine.Jobs;
using StreamEngine.Kafka.Source;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine run --job NAME</c>: a job from Kafka to ClickHouse, exactly once. Every checkpoint interval the
/// results emitted so far are written, then one row with the aggregation's state and the source offsets it covers;
/// on start the newest checkpoint is restored and the source seeks to its offsets (docs/exactly-once.md).
/// </summary>
public static class RunCommand
{
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var parsed = Arguments.Parse("run", args, "job", "set", "until-idle");
        parsed.ExpectPositionals(0, 0, "nothing");
        var jobName = parsed.Value("job") ?? throw new UsageException("run: --job is required (streamengine jobs list shows them)");
        JobsCommand.EnsureKnown(jobName);

        var untilIdle = parsed.Value("until-idle") is null ? (TimeSpan?)null : TimeSpan.FromSeconds(parsed.WholeNumber("until-idle", 0, 1, 86_400));
        var settings = EngineSettings.Load(parsed.All("set"));
        var bootstrap = settings["kafka.bootstrap"];
        if (bootstrap.Length == 0)
        {
            throw new UsageException("run: configuration key 'kafka.bootstrap' is required (the Kafka bootstrap servers)");
        }

        var job = new AdMetricsJob();
        var topic = settings["kafka.topic"];
        var group = settings["kafka.group"] is { Length: > 0 } g ? g : $"streamengine-{job.Name}";
        var database = settings["clickhouse.database"];

        using var stopping = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        using var clickHouse = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = settings["clickhouse.path"] });
        await using var store = new EmbeddedStore(clickHouse, ownsConnection: false);
        await new SchemaMigrator(store, database).ApplyAsync(
            [OffsetStore.Migration, CheckpointStore.Migration, .. AdMetricsJob.Schema.Select(m => new Migration(m.Version, m.Name, m.Statements))], stopping.Token);
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse, new ClickHouseHttpOptions
        {
            Port = int.Parse(settings["clickhouse.http.port"], System.Globalization.CultureInfo.InvariantCulture),
        }, stopping.Token);

        var checkpoints = new CheckpointStore(store, database, job.Name, topic);
        var latest = await checkpoints.LoadLatestAsync(stopping.Token);
        var symbols = new SymbolTable();
        // Keys are interned ids, which differ between runs: snapshots carry the names instead.
        var handle = new CheckpointHandle
        {
            RestoreFrom = latest?.State,
            KeyCodec = new KeyCodec<int>((w, campaign) => w.Write(symbols.Name(campaign)), r => symbols.Intern(r.ReadString())),
        };
        var writer = new TableWriter(store, $"{database}.{AdMetricsJob.ResultsTable}");
        var pending = new List<WindowResult<int, CampaignMinute>>();
        long late = 0;

        await using var source = new KafkaAdEventSource(
            new KafkaSourceOptions { BootstrapServers = bootstrap, GroupId = group, Topic = topic, DeadLetterTopic = $"{topic}.dlq" },
            checkpoints, symbols, line => Console.Error.WriteLine(line));
        using var lateEvents = new LateEventWriter(bootstrap, $"{topic}.late", topic, symbols);
        var checkpointGate = new SemaphoreSlim(1, 1);

        IReadOnlyDictionary<int, long>? lastSaved = null;
        async Task CheckpointAsync(CancellationToken cancellationToken)
        {
            if (!handle.IsAttached)
            {
                return;
            }

            await checkpointGate.WaitAsync(cancellationToken);
            try
            {
                var checkpoint = handle.Take();
                List<WindowResult<int, CampaignMinute>> rows;
                lock (pending)
                {
                    rows = [.. pending];
                    pending.Clear();
                }

                if (rows.Count == 0 && lastSaved is not null && lastSaved.Count == checkpoint.NextOffsets.Count && !lastSaved.Except(checkpoint.NextOffsets).Any())
                {
                    return; // nothing new since the last checkpoint
                }

                // Results (and late events) first, then the checkpoint that says they are covered: a crash between
                // the two only means the replay writes the same rows (same keys and versions) again.
                await writer.WriteAsync(AdMetricsJob.ToRows(rows, symbols), cancellationToken);
                lateEvents.Flush(TimeSpan.FromSeconds(30));
                await checkpoints.SaveAsync(checkpoint.NextOffsets, checkpoint.State, cancellationToken);
                lastSaved = checkpoint.NextOffsets;
                foreach (var (partition, offset) in checkpoint.NextOffsets)
                {
                    source.MarkProcessed(partition, offset);
                }
            }
            finally
            {
                checkpointGate.Release();
            }
        }

        var context = new JobContext(new WindowOptions
        {
            WatermarkDelay = settings.Duration("window.watermark_delay"),
            AllowedLateness = settings.Duration("window.allowed_lateness"),
        }, DefaultScheduler.Instance, handle);
        var failed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = job.Build(source.ToObservable(onRevoked: _ => CheckpointAsync(CancellationToken.None).GetAwaiter().GetResult()), context)
            .Subscribe(
                result =>
                {
                    lock (pending)
                    {
                        pending.AddRange(result.Results);
                    }

                    foreach (var lateEvent in result.Late)
                    {
                        lateEvents.Write(lateEvent);
                    }

                    Interlocked.Add(ref late, result.Late.Count);
                },
                error => failed.TrySetResult(error));

        await output.WriteLineAsync($"streamengine run: job {job.Name}, reading {topic} at {bootstrap} as group {group}; " +
                                    $"results in {store.Description} (database {database}); ClickHouse HTTP at {endpoint.Url}" +
                                    (latest is null ? "; starting from the beginning" : $"; resuming from checkpoint {latest.Sequence}"));
        await output.FlushAsync();

        var lastIn = -1L;
        var quietSince = Stopwatch.StartNew();
        while (!stopping.IsCancellationRequested)
        {
            var tick = Task.Delay(CheckpointInterval, stopping.Token);
            var done = await Task.WhenAny(tick, failed.Task, source.Completion);
            if (done == failed.Task || source.Completion.IsFaulted)
            {
                var error = failed.Task.IsCompleted ? failed.Task.Result : source.Completion.Exception!.InnerException!;
                await Console.Error.WriteLineAsync($"streamengine: job {job.Name} stopped: {error.Message}");
                return 1;
            }

            await CheckpointAsync(CancellationToken.None);
            var messagesIn = source.Counters.MessagesIn;
            if (messagesIn != lastIn)
            {
                lastIn = messagesIn;
                quietSince.Restart();
            }
            else if (untilIdle is { } idle && quietSince.Elapsed >= idle && handle.IsAttached)
            {
                break;
            }
        }

        // Idle or asked to stop: everything emitted so far goes out with a last checkpoint.
        await CheckpointAsync(CancellationToken.None);
        var counters = source.Counters;
        await output.WriteLineAsync($"streamengine run: stopped; {counters.MessagesIn:N0} messages read, {counters.Decoded:N0} events, " +
                                    $"{counters.DeadLettered:N0} dead-lettered, {Interlocked.Read(ref late):N0} late, {writer.Counters.Rows:N0} result rows written");
        return 0;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stopping.Cancel();
        }
    }
}
