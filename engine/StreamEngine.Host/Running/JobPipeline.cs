using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Telemetry;
using StreamEngine.Core.Windowing;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Jobs;
using StreamEngine.Kafka.Source;

namespace StreamEngine.Host.Running;

/// <summary>What a running job has done so far, for status lines.</summary>
public readonly record struct PipelineStatus(long MessagesIn, long Events, long DeadLettered, long Late, long ResultRows, long Lag, long FailedWrites)
{
    /// <summary>Times a checkpoint found partitions claimed by a newer assignment (another process) and wrote nothing of theirs.</summary>
    public long Fenced { get; init; }

    /// <summary>Checkpoints that failed because late or dead-letter records were not delivered (retried; the offsets did not advance).</summary>
    public long SideOutputFailures { get; init; }

    /// <summary>Times the source saw its topic's partition count change.</summary>
    public long PartitionCountChanges { get; init; }
}

/// <summary>What a running job looks like inside, for <c>/metrics</c> and <c>/readyz</c>.</summary>
public sealed record JobTelemetry
{
    /// <summary>The topic read; empty for a job that reads no Kafka topic.</summary>
    public string Topic { get; init; } = "";

    /// <summary>The partitions this process holds now.</summary>
    public IReadOnlyList<int> AssignedPartitions { get; init; } = [];

    /// <summary>Messages not yet read, per assigned partition (from the consumer's statistics, every few seconds).</summary>
    public IReadOnlyDictionary<int, long> PartitionLag { get; init; } = new Dictionary<int, long>();

    /// <summary>The aggregation's counters and gauges: duplicates, open windows, tracked ids, watermark.</summary>
    public WindowCounters Window { get; init; } = new(0, 0, 0, 0, 0, 0, 0, 0, long.MinValue);

    /// <summary>Bytes of the partitions' state as last checkpointed.</summary>
    public long StateBytes { get; init; }

    /// <summary>Each ClickHouse table written, with its writer's totals.</summary>
    public IReadOnlyList<(string Table, WriterCounters Counters)> Sinks { get; init; } = [];

    public static JobTelemetry None { get; } = new();
}

/// <summary>A running job, whatever its key and result types (see <see cref="JobPipeline{TKey,TResult}"/>).</summary>
public interface IJobPipeline : IAsyncDisposable
{
    /// <summary>The job's name (<c>streamengine run --job NAME</c>).</summary>
    string Name { get; }

    /// <summary>One line on what runs where, for the start-up banner.</summary>
    string Description { get; }

    PipelineStatus Status { get; }

    /// <summary>Partitions, lag, windows, state and sinks, for metrics and readiness.</summary>
    JobTelemetry Telemetry { get; }

    /// <summary>From process start until every assigned partition was first read to its end and its results written.</summary>
    TimeSpan? CaughtUpAfter { get; }

    /// <summary>
    /// Checkpoints every interval until <paramref name="stopping"/> fires, the job fails (returns the error), or, with
    /// <paramref name="untilIdle"/>, every assigned partition has been read to its end, everything read has been
    /// processed, and no message has arrived for that long. Null means it stopped normally.
    /// </summary>
    Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping);
}

/// <summary>Starts <see cref="JobPipeline{TKey,TResult}"/>s.</summary>
public static class JobPipeline
{
    /// <summary>
    /// Migrates the job's schema, forgets stored positions when asked (<paramref name="forgetPositions"/>: the Kafka
    /// cluster is new) and starts reading; each partition resumes from its checkpoint when it is assigned.
    /// </summary>
    public static async Task<JobPipeline<TKey, TResult>> StartAsync<TKey, TResult>(
        AdJob<TKey, TResult> job, EngineSettings settings, IClickHouseStore store, EngineLog log, bool forgetPositions, CancellationToken cancellationToken,
        ILiveSink? live = null)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(log);
        var pipeline = new JobPipeline<TKey, TResult>(job, log.ForJob(job.Name)) { Live = live };
        await pipeline.StartAsync(settings, store, forgetPositions, cancellationToken);
        return pipeline;
    }
}

/// <summary>
/// A job from Kafka to ClickHouse, exactly once (docs/exactly-once.md): every checkpoint interval the results emitted
/// so far are written, then a row per changed source partition with its state and the offset it covers; when a
/// partition is assigned, its newest checkpoint is restored and the source seeks to its offset.
/// </summary>
public sealed class JobPipeline<TKey, TResult> : IJobPipeline
    where TKey : notnull
{
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(2);

    /// <summary>How often the run loop looks at the source between checkpoints.</summary>
    private static readonly TimeSpan WakeInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Rows (results and raw events) waiting for ClickHouse before the source is held back (it then pauses its partitions).</summary>
    private const int MaxPendingRows = 1_000_000;

    /// <summary>Rows waiting that make a checkpoint start before its interval is up (batches by size and by time).</summary>
    private const int FlushAtPendingRows = 250_000;

    /// <summary>
    /// Consumer lag (messages) beyond which the job is catching up (a replay, a backlog): its results are not live,
    /// so it checkpoints by volume (<see cref="CatchUpFlushAtPendingRows"/>, at least every <see cref="CatchUpCheckpointInterval"/>).
    /// Every checkpoint rewrites each key it changed, and the sink is what bounds a catch-up: fewer, larger
    /// checkpoints rewrite each key fewer times.
    /// </summary>
    private const long CatchUpLag = 200_000;

    private const int CatchUpFlushAtPendingRows = 750_000;

    private static readonly TimeSpan CatchUpCheckpointInterval = TimeSpan.FromSeconds(10);

    /// <summary>Results and raw events: a block written twice means the same rows (keys, versions) twice, so a repeat may be dropped.</summary>
    private static readonly SinkOptions VersionedRows = new() { DropRepeatedBlocks = true };

    /// <summary>How long checkpoints may keep failing on undelivered late records before the job stops with the reason.</summary>
    private static readonly TimeSpan SideOutputGiveUpAfter = TimeSpan.FromMinutes(10);
    private readonly AdJob<TKey, TResult> _job;
    private readonly List<WindowResult<TKey, TResult>> _pending = [];
    private readonly List<EventBatch<AdEvent>> _pendingEvents = [];
    private int _pendingEventCount;
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);
    private readonly TaskCompletionSource<Exception> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private KafkaAdEventSource _source = null!;
    private LateEventWriter _lateEvents = null!;
    private readonly Dictionary<string, TableWriter> _writers = [];
    private IClickHouseStore _store = null!;
    private string _database = "";
    private TableWriter? _eventWriter;
    private Utf8Names _names = null!;
    private CheckpointStore _checkpoints = null!;
    private CheckpointHandle _handle = null!;
    private IDisposable? _subscription;
    private long _late;
    private long _fenced;
    private long _sideOutputFailures;
    private readonly ConcurrentDictionary<int, long> _held = new(); // partition -> the generation this process holds it as
    private string? _batchId;          // the correlation id of the results waiting for the next checkpoint
    private WindowCounters _window = JobTelemetry.None.Window;
    private readonly ConcurrentDictionary<int, long> _stateBytes = new();

    private readonly EngineLog _log;

    internal JobPipeline(AdJob<TKey, TResult> job, EngineLog log)
    {
        _job = job;
        _log = log;
    }

    /// <summary>One line on what runs where, for the start-up banner.</summary>
    public string Name => _job.Name;

    public string Description { get; private set; } = "";

    public SymbolTable Symbols { get; } = new();

    /// <summary>
    /// From process start until every assigned partition had first been read to its end and the results covering
    /// it were written (null until then): after a restart, the recovery time.
    /// </summary>
    public TimeSpan? CaughtUpAfter { get; private set; }

    public PipelineStatus Status
    {
        get
        {
            var counters = _source.Counters;
            return new PipelineStatus(counters.MessagesIn, counters.Decoded, counters.DeadLettered, Interlocked.Read(ref _late),
                ResultWriters.Sum(w => w.Counters.Rows), _source.ConsumerLag.Values.Sum(),
                ResultWriters.Append(_eventWriter).Sum(w => w?.Counters.FailedAttempts ?? 0) + _checkpoints.Counters.FailedAttempts)
            {
                Fenced = Interlocked.Read(ref _fenced),
                SideOutputFailures = Interlocked.Read(ref _sideOutputFailures),
                PartitionCountChanges = counters.PartitionCountChanges,
            };
        }
    }

    public JobTelemetry Telemetry
    {
        get
        {
            var assigned = _source.AssignedPartitions;
            WindowCounters window;
            lock (_pending)
            {
                window = _window;
            }

            return new JobTelemetry
            {
                Topic = _source.Topic,
                AssignedPartitions = assigned,
                PartitionLag = _source.ConsumerLag.Where(l => assigned.Contains(l.Key)).ToDictionary(),
                Window = window,
                StateBytes = _stateBytes.Where(s => assigned.Contains(s.Key)).Sum(s => s.Value),
                Sinks = [.. ResultWriters.Append(_eventWriter).OfType<TableWriter>().Select(w => (w.TableName, w.Counters))],
            };
        }
    }

    /// <summary>
    /// Migrates the schema, restores the newest checkpoint (or, with <paramref name="forgetPositions"/>, drops the
    /// stored positions because the Kafka cluster is new) and starts reading.
    /// </summary>
    internal async Task StartAsync(EngineSettings settings, IClickHouseStore store, bool forgetPositions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(settings);
        var bootstrap = settings["kafka.bootstrap"];
        var topic = settings["kafka.topic"];
        var database = settings["clickhouse.database"];
        var group = settings["kafka.group"] is { Length: > 0 } g ? g : $"streamengine-{_job.Name}";
        var rawEvents = _job.WritesRawEvents && settings.Flag("clickhouse.raw_events");
        await new SchemaMigrator(store, database).ApplyAsync(
            [.. CheckpointStore.Migrations, .. _job.Schema.Concat(rawEvents ? RawEvents.Schema : []).Select(m => new Migration(m.Version, m.Name, [.. m.Statements]))],
            cancellationToken);
        _checkpoints = new CheckpointStore(store, database, _job.Name, topic);
        if (forgetPositions)
        {
            await _checkpoints.ForgetAsync(cancellationToken);
        }

        await _checkpoints.ThrowIfOnlyLegacyCheckpointsAsync(cancellationToken);
        var symbols = Symbols;
        // Keys are interned ids, which differ between runs: snapshots carry the names instead.
        _handle = new CheckpointHandle
        {
            RestoreState = _checkpoints.TakeRestoredState,
            KeyCodec = _job.KeyCodec(symbols),
        };
        (_store, _database) = (store, database);
        _eventWriter = rawEvents ? new TableWriter(store, $"{database}.{RawEvents.Table}", VersionedRows) { Warn = w => _log.Warn(w) } : null;
        _names = new Utf8Names(Symbols);
        _source = new KafkaAdEventSource(
            new KafkaSourceOptions { BootstrapServers = bootstrap, GroupId = group, Topic = topic, DeadLetterTopic = $"{topic}.dlq", ClientSettings = settings.KafkaClientSettings },
            _checkpoints, symbols, _log.Info);
        _lateEvents = new LateEventWriter(bootstrap, $"{topic}.late", topic, symbols, settings.KafkaClientSettings);
        var context = new JobContext(new WindowOptions
        {
            WatermarkDelay = settings.Duration("window.watermark_delay"),
            AllowedLateness = settings.Duration("window.allowed_lateness"),
            EmitAcceptedEvents = rawEvents,
        }, DefaultScheduler.Instance, _handle);
        var events = _source.ToObservable(onRevoked: _ => FinalCheckpoint(), waitForRoom: WaitForRoomAsync, onReleased: Release)
            .Do(TrackAssignment);
        _subscription = _job.Build(events, context, Symbols)
            .Subscribe(OnOutput, error => _failed.TrySetResult(error));
        Description = $"job {_job.Name}: reading {topic} at {bootstrap} as group {group}; results in {store.Description} (database {database}); " +
                               "each partition resumes from its checkpoint";
    }

    public async Task<Exception?> RunAsync(TimeSpan? untilIdle, CancellationToken stopping)
    {
        var lastIn = -1L;
        var quietSince = Stopwatch.StartNew();
        var sinceCheckpoint = Stopwatch.StartNew();
        var sideOutputBackoff = TimeSpan.Zero;
        Stopwatch? sideOutputFailing = null;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.WhenAny(Task.Delay(WakeInterval, stopping), _failed.Task, _source.Completion);
            }
            catch (OperationCanceledException)
            {
            }

            if (_failed.Task.IsCompleted)
            {
                return _failed.Task.Result;
            }

            if (_source.Completion.IsFaulted)
            {
                return _source.Completion.Exception!.InnerException;
            }

            // The first time everything assigned has been read, checkpoint at once: that is when the results are
            // caught up (what recovery time measures), and the line says when.
            var caughtUp = _handle.IsAttached && _source.IsCaughtUp && _source.Signals.Count == 0;
            var firstCatchUp = caughtUp && CaughtUpAfter is null;
            var catchingUp = _source.ConsumerLag.Values.Sum() > CatchUpLag;
            if (sinceCheckpoint.Elapsed < (catchingUp ? CatchUpCheckpointInterval : CheckpointInterval) && !firstCatchUp &&
                PendingRows < (catchingUp ? CatchUpFlushAtPendingRows : FlushAtPendingRows))
            {
                continue;
            }

            try
            {
                await CheckpointAsync();
                sideOutputBackoff = TimeSpan.Zero;
                sideOutputFailing = null;
            }
            catch (SideOutputDeliveryException e)
            {
                sideOutputFailing ??= Stopwatch.StartNew();
                if (sideOutputFailing.Elapsed > SideOutputGiveUpAfter)
                {
                    return new SideOutputDeliveryException($"job {_job.Name}: late records have not been delivered for {SideOutputGiveUpAfter.TotalMinutes:F0} min; stopping (nothing past them is stored): {e.Message}", e);
                }

                // The results are written, the offsets are not: the next checkpoint writes them again after the
                // records are delivered, and the source never moves past an undelivered one.
                Interlocked.Increment(ref _sideOutputFailures);
                sideOutputBackoff = TimeSpan.FromTicks(Math.Clamp(sideOutputBackoff.Ticks * 2, TimeSpan.FromMilliseconds(500).Ticks, TimeSpan.FromSeconds(30).Ticks));
                _log.Warn($"job {_job.Name}: checkpoint not stored: {e.Message}; retrying in {sideOutputBackoff.TotalSeconds:F1} s");
                try
                {
                    await Task.Delay(sideOutputBackoff, stopping);
                }
                catch (OperationCanceledException)
                {
                }

                continue;
            }

            sinceCheckpoint.Restart();
            if (firstCatchUp)
            {
                CaughtUpAfter = DateTime.Now - Process.GetCurrentProcess().StartTime;
                _log.Info($"job {_job.Name}: caught up {CaughtUpAfter.Value.TotalSeconds:F2} s after process start (every assigned partition read to its end, its results written)");
            }

            var messagesIn = _source.Counters.MessagesIn;
            if (messagesIn != lastIn)
            {
                lastIn = messagesIn;
                quietSince.Restart();
            }
            else if (untilIdle is { } idle && quietSince.Elapsed >= idle && caughtUp)
            {
                break;
            }
        }

        return null;
    }

    /// <summary>Writes everything emitted so far with a last checkpoint, then stops reading.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_handle.IsAttached)
            {
                await CheckpointAsync();
            }
        }
        finally
        {
            // Whatever the last checkpoint did, the consumer leaves the group (its partitions move at once).
            _subscription?.Dispose();
            await _source.DisposeAsync();
            _lateEvents.Dispose();
            _checkpointGate.Dispose();
        }
    }

    /// <summary>16 hex digits, unique enough to find one batch in logs, ClickHouse's query log and live messages.</summary>
    private static string NewCorrelationId() => ActivitySpanId.CreateRandom().ToHexString();

    private TableWriter[] ResultWriters
    {
        get
        {
            lock (_writers)
            {
                return [.. _writers.Values];
            }
        }
    }

    private TableWriter WriterFor(string table)
    {
        lock (_writers)
        {
            if (!_writers.TryGetValue(table, out var writer))
            {
                _writers[table] = writer = new TableWriter(_store, $"{_database}.{table}", VersionedRows) { Warn = w => _log.Warn(w) };
            }

            return writer;
        }
    }

    /// <summary>The final checkpoint of revoked partitions; if it fails the partitions still go (the next owner resumes from the last stored one).</summary>
    private void FinalCheckpoint()
    {
        try
        {
            CheckpointAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is SideOutputDeliveryException or StreamEngine.ClickHouse.ClickHouseException)
        {
            _log.Warn($"job {_job.Name}: the final checkpoint of revoked partitions failed ({e.Message}); their next owner resumes from their last stored checkpoint");
        }
    }

    private void TrackAssignment(EventBatch<AdEvent> batch)
    {
        switch (batch.Kind)
        {
            case EventBatchKind.PartitionAssigned:
                _held[batch.Partition] = batch.Generation;
                break;
            case EventBatchKind.PartitionRevoked or EventBatchKind.PartitionLost:
                _held.TryRemove(new KeyValuePair<int, long>(batch.Partition, batch.Generation));
                break;
        }
    }

    /// <summary>
    /// The partitions left the pipeline (their state is gone): whatever of theirs still waits to be written goes too.
    /// For a revoked partition that is only what changed after its final checkpoint (the next owner computes it
    /// again); for a lost one it is everything since its last stored checkpoint: another process may own it already.
    /// </summary>
    private void Release(PartitionsRevoked released)
    {
        var gone = released.Partitions.ToHashSet();
        var dropped = DropPending(gone);
        if (released.Lost || dropped > 0)
        {
            _log.Info($"job {_job.Name}: partitions {string.Join(',', released.Partitions)} {(released.Lost ? "lost" : "revoked")}; {dropped:N0} unwritten rows of theirs dropped");
        }
    }

    private int DropPending(HashSet<int> partitions)
    {
        lock (_pending)
        {
            var dropped = _pending.RemoveAll(r => partitions.Contains(r.Partition));
            dropped += _pendingEvents.Where(b => partitions.Contains(b.Partition)).Sum(b => b.Count);
            _pendingEvents.RemoveAll(b => partitions.Contains(b.Partition));
            _pendingEventCount = _pendingEvents.Sum(b => b.Count);
            return dropped;
        }
    }

    /// <summary>Holds the next batch while too many result rows wait for ClickHouse (it is down or slow).</summary>
    private async Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        while (PendingRows >= MaxPendingRows && !_failed.Task.IsCompleted)
        {
            await Task.Delay(50, cancellationToken);
        }
    }

    private int PendingRows
    {
        get
        {
            lock (_pending)
            {
                return _pending.Count + _pendingEventCount;
            }
        }
    }

    /// <summary>Where live values go (NATS), or null.</summary>
    public ILiveSink? Live { get; init; }

    private void OnOutput(WindowOutput<TKey, TResult, AdEvent> output)
    {
        string? batchId = null;
        if (output.Results.Count > 0)
        {
            lock (_pending)
            {
                batchId = _batchId ??= NewCorrelationId();
            }
        }

        if (Live is { } live && batchId is not null)
        {
            foreach (var update in _job.Live(output.Results, Symbols))
            {
                live.Offer(update with { CorrelationId = batchId });
            }
        }

        lock (_pending)
        {
            _window = output.Counters;
            _pending.AddRange(output.Results);
            if (output.Accepted.Count > 0)
            {
                _pendingEvents.Add(output.Accepted);
                _pendingEventCount += output.Accepted.Count;
            }
        }

        foreach (var late in output.Late)
        {
            _lateEvents.Write(late);
        }

        Interlocked.Add(ref _late, output.Late.Count);
    }

    private async Task CheckpointAsync()
    {
        if (!_handle.IsAttached)
        {
            return;
        }

        await _checkpointGate.WaitAsync();
        try
        {
            var checkpoint = _handle.Take();
            List<WindowResult<TKey, TResult>> rows;
            List<EventBatch<AdEvent>> events;
            string batchId;
            lock (_pending)
            {
                rows = [.. _pending];
                _pending.Clear();
                events = [.. _pendingEvents];
                _pendingEvents.Clear();
                _pendingEventCount = 0;
                batchId = _batchId ?? NewCorrelationId();
                _batchId = null;
            }

            if (rows.Count == 0 && events.Count == 0 && checkpoint.IsEmpty)
            {
                return; // nothing new since the last checkpoint
            }

            var started = Stopwatch.GetTimestamp();
            // The batch's span links to the traces of the messages it read (W3C traceparent headers).
            using var activity = EngineTelemetry.Activities.StartActivity(ActivityKind.Internal, links: _source.TakeTraceLinks(), name: $"checkpoint {_job.Name}");
            activity?.SetTag("streamengine.job", _job.Name);
            activity?.SetTag("streamengine.correlation_id", batchId);
            try
            {
                checkpoint = await WriteResultsAsync(checkpoint, rows, events, batchId, activity);
            }
            catch
            {
                // The results were not all written: they wait again (those of partitions still held), or the next
                // checkpoint would store offsets that cover rows never written.
                lock (_pending)
                {
                    _pending.InsertRange(0, rows.Where(r => _held.ContainsKey(r.Partition)));
                    var kept = events.Where(e => _held.ContainsKey(e.Partition)).ToList();
                    _pendingEvents.InsertRange(0, kept);
                    _pendingEventCount += kept.Sum(e => e.Count);
                    _batchId ??= batchId;
                }

                throw;
            }

            await StoreCheckpointAsync(checkpoint, rows.Count, events.Sum(e => e.Count), batchId, started);
        }
        finally
        {
            _checkpointGate.Release();
        }
    }

    /// <summary>
    /// The first half of a checkpoint: leaves out partitions this process may no longer write, then writes the
    /// results and raw events. Returns the checkpoint of what it wrote.
    /// </summary>
    private async Task<Checkpoint> WriteResultsAsync(Checkpoint checkpoint, List<WindowResult<TKey, TResult>> rows, List<EventBatch<AdEvent>> events, string batchId, Activity? activity)
    {
        // Fencing: a partition a newer assignment claimed (this process was paused or cut off and is not yet told)
        // is another's now; nothing of it is written, whatever this process computed.
        var held = checkpoint.Partitions.ToDictionary(p => p.Partition, p => p.Generation);
        var fenced = new HashSet<int>();
        foreach (var partition in rows.Select(r => r.Partition).Concat(events.Select(e => e.Partition)).Distinct())
        {
            if (held.ContainsKey(partition))
            {
                continue;
            }

            if (_held.TryGetValue(partition, out var generation))
            {
                held[partition] = generation;
            }
            else
            {
                fenced.Add(partition); // no longer held at all
            }
        }

        // Lost partitions whose news has not come through the pipeline yet: the source knew at once.
        fenced.UnionWith(held.Where(h => _source.WasLost(h.Key, h.Value)).Select(h => h.Key));
        fenced.UnionWith(await _checkpoints.FencedAsync(held));
        if (fenced.Count > 0)
        {
            Interlocked.Increment(ref _fenced);
            rows.RemoveAll(r => fenced.Contains(r.Partition));
            events.RemoveAll(e => fenced.Contains(e.Partition));
            checkpoint = new Checkpoint([.. checkpoint.Partitions.Where(p => !fenced.Contains(p.Partition))]);
            _log.Warn($"job {_job.Name}: partitions {string.Join(',', fenced.Order())} were lost or claimed by a newer assignment (another process); nothing of theirs is written by this one");
        }

        activity?.SetTag("streamengine.result_rows", rows.Count);
        activity?.SetTag("streamengine.partitions", string.Join(',', checkpoint.Partitions.Select(p => p.Partition)));

        // Results, raw events and late events first, then the checkpoint that says they are covered: a crash
        // between the two only means the replay writes the same rows (same keys and versions) again.
        foreach (var table in rows.Count == 0 ? [] : _job.ToRows(rows, _names))
        {
            await WriterFor(table.Table).WriteAsync(table.Rows, batchId);
        }

        if (_eventWriter is not null && events.Count > 0)
        {
            await _eventWriter.WriteAsync(RawEvents.ToRows(events, _names), batchId);
        }

        return checkpoint;
    }

    /// <summary>
    /// The second half, once the results are in (a failure here needs nothing back: the next checkpoint's offsets
    /// cover what was written): the late events, then the checkpoint that says everything before it is stored.
    /// </summary>
    private async Task StoreCheckpointAsync(Checkpoint checkpoint, int rows, int events, string batchId, long started)
    {
        var job = new KeyValuePair<string, object?>("job", _job.Name);
        _lateEvents.Flush(TimeSpan.FromSeconds(30)); // throws SideOutputDeliveryException: the checkpoint is not stored
        await _checkpoints.SaveAsync(checkpoint);
        _handle.Confirm(checkpoint);
        var storedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var partition in checkpoint.Partitions)
        {
            _source.MarkProcessed(partition.Partition, partition.NextOffset);
            _stateBytes[partition.Partition] = partition.State.Length;
            if (partition.NewestEventTimeMs != long.MinValue)
            {
                EngineTelemetry.EndToEndLatency.Record(Math.Max(0, storedAtMs - partition.NewestEventTimeMs) / 1000.0, job);
            }
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        EngineTelemetry.CheckpointDuration.Record(elapsed.TotalSeconds, job);
        if (_log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            _log.Debug($"checkpoint: {rows:N0} results, {events:N0} raw events, partitions " +
                       $"{string.Join(", ", checkpoint.Partitions.Select(p => $"{p.Partition}@{p.NextOffset}"))} stored in {elapsed.TotalMilliseconds:F0} ms", batchId);
        }
    }
}
