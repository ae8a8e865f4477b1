using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Microsoft.Extensions.Logging;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Telemetry;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Runtime;

/// <summary>
/// A streaming job between its ports, exactly once (docs/exactly-once.md). The partition lifecycle has one owner
/// here: a partition is assigned with a generation (the source claimed it in the store), restored from the state
/// read in that claim, runs, and is either revoked (final checkpoint, then released) or lost (released, nothing of
/// it written). A checkpoint takes a cut of the aggregation, leaves out the partitions this process may no longer
/// write (lost, or claimed by a newer assignment), writes the results and accepted events, waits for the late
/// records to be delivered, stores the checkpoint, and confirms it. A crash at any step leaves the store where a
/// replay from the last stored checkpoint writes the same rows again.
/// </summary>
public sealed class StreamingJob<TEvent, TKey, TResult> : IRunningJob
    where TKey : notnull
{
    private readonly StreamingJobSpec<TEvent, TKey, TResult> _spec;
    private readonly IPartitionedSource<TEvent> _source;
    private readonly IResultsStore<TEvent, TKey, TResult> _store;
    private readonly ISideOutput<TEvent> _late;
    private readonly ILiveSink? _live;
    private readonly IScheduler _scheduler; // the windows' clock for early updates: the default scheduler, virtual time in tests
    private readonly StreamingJobOptions _options;
    private readonly ILogger _log;
    private readonly CheckpointHandle _handle;
    private readonly List<WindowResult<TKey, TResult>> _pending = [];
    private readonly List<EventBatch<TEvent>> _pendingEvents = [];
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);
    private readonly TaskCompletionSource<Exception> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<int, long> _held = new(); // partition -> the generation this process holds it as
    private readonly ConcurrentDictionary<int, long> _stateBytes = new();
    private IDisposable? _subscription;
    private int _pendingEventCount;
    private string? _batchId; // the correlation id of the results waiting for the next checkpoint
    private WindowCounters _window = JobTelemetry.None.Window;
    private long _lateCount;
    private long _fenced;
    private long _sideOutputFailures;
    private long _heldBackSince; // UTC ticks since the source is held back, 0 when it is not (read by telemetry)

    /// <summary>Wires the job to its ports; nothing is read until <see cref="Start"/>.</summary>
    public StreamingJob(StreamingJobSpec<TEvent, TKey, TResult> spec, IPartitionedSource<TEvent> source, IResultsStore<TEvent, TKey, TResult> store,
        ISideOutput<TEvent> late, ILogger log, StreamingJobOptions? options = null, ILiveSink? live = null, IScheduler? scheduler = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(late);
        ArgumentNullException.ThrowIfNull(log);
        (_spec, _source, _store, _late, _log, _live) = (spec, source, store, late, log, live);
        _options = options ?? new StreamingJobOptions();
        _scheduler = scheduler ?? DefaultScheduler.Instance;
        _handle = new CheckpointHandle { RestoreState = store.RestoreState, KeyCodec = spec.KeyCodec };
        Description = $"job {spec.Name}: {source.Description}; results in {store.Description}; each partition resumes from its checkpoint";
    }

    /// <inheritdoc/>
    public string Name => _spec.Name;

    /// <inheritdoc/>
    public string Description { get; }

    /// <summary>From process start until every assigned partition had first been read to its end and the results covering it were written.</summary>
    public TimeSpan? CaughtUpAfter { get; private set; }

    /// <summary>Whether the job's pipeline has failed (its error then ends <see cref="RunAsync"/>).</summary>
    public Exception? Failure => _failed.Task.IsCompleted ? _failed.Task.Result : null;

    /// <inheritdoc/>
    public PipelineStatus Status
    {
        get
        {
            var counters = _source.Counters;
            return new PipelineStatus(counters.MessagesIn, counters.Decoded, counters.DeadLettered, Interlocked.Read(ref _lateCount),
                _store.ResultRows, _source.ConsumerLag.Values.Sum(), _store.FailedWriteAttempts)
            {
                Fenced = Interlocked.Read(ref _fenced),
                SideOutputFailures = Interlocked.Read(ref _sideOutputFailures),
                PartitionCountChanges = counters.PartitionCountChanges,
                SourcePauses = counters.Pauses,
                LostToRetention = counters.LostToRetention,
            };
        }
    }

    /// <inheritdoc/>
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
                PendingRows = PendingRows,
                HeldBackSince = Interlocked.Read(ref _heldBackSince) is var since and > 0 ? new DateTimeOffset(since, TimeSpan.Zero) : null,
                Sinks = _store.Sinks,
            };
        }
    }

    /// <summary>Subscribes the job's pipeline to the source: reading starts, each partition from its claimed checkpoint.</summary>
    public void Start()
    {
        if (_subscription is not null)
        {
            throw new InvalidOperationException($"job {Name} is already started");
        }

        var hooks = new SourceHooks { OnRevoking = _ => FinalCheckpoint(), WaitForRoom = WaitForRoomAsync, OnReleased = Release };
        var events = _source.Read(hooks).Do(TrackAssignment);
        _subscription = _spec.Build(events, new JobContext(_spec.Windowing, _scheduler, _handle))
            .Subscribe(OnOutput, error => _failed.TrySetResult(error));
    }

    /// <inheritdoc/>
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
                await Task.WhenAny(Task.Delay(_options.WakeInterval, stopping), _failed.Task, _source.Completion);
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
            var caughtUp = _handle.IsAttached && _source.IsCaughtUp;
            var firstCatchUp = caughtUp && CaughtUpAfter is null;
            // The lag comes from the client's statistics (every few seconds): once everything is read, it is not a backlog whatever they still say.
            var catchingUp = _source.ConsumerLag.Values.Sum() > _options.CatchUpLag && !caughtUp;
            _handle.BacklogEmitInterval = catchingUp ? _options.CatchUpEmitInterval : null;
            if (sinceCheckpoint.Elapsed < (catchingUp ? _options.CatchUpCheckpointInterval : _options.CheckpointInterval) && !firstCatchUp &&
                PendingRows < Math.Min(catchingUp ? _options.CatchUpFlushAtPendingRows : _options.FlushAtPendingRows, _options.MaxPendingRows / 2))
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
                if (sideOutputFailing.Elapsed > _options.SideOutputGiveUpAfter)
                {
                    return new SideOutputDeliveryException(
                        $"job {Name}: late or dead-letter records have not been delivered for {_options.SideOutputGiveUpAfter.TotalMinutes:F0} min; stopping (nothing past them is stored): {e.Message}", e);
                }

                // The results are written, the offsets are not: the next checkpoint writes them again after the
                // records are delivered, and the source never moves past an undelivered one.
                Interlocked.Increment(ref _sideOutputFailures);
                sideOutputBackoff = TimeSpan.FromTicks(Math.Clamp(sideOutputBackoff.Ticks * 2, TimeSpan.FromMilliseconds(500).Ticks, TimeSpan.FromSeconds(30).Ticks));
                _log.LogWarning("job {Job}: checkpoint not stored: {Reason}; retrying in {Seconds:F1} s", Name, e.Message, sideOutputBackoff.TotalSeconds);
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
                _log.LogInformation("job {Job}: caught up {Seconds:F2} s after process start (every assigned partition read to its end, its results written)",
                    Name, CaughtUpAfter.Value.TotalSeconds);
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

    /// <summary>Writes everything emitted so far with a last checkpoint, then stops reading (the partitions move at once).</summary>
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
            // Whatever the last checkpoint did, the source closes (a consumer leaves its group).
            _subscription?.Dispose();
            await _source.DisposeAsync();
            _late.Dispose();
            _checkpointGate.Dispose();
        }
    }

    /// <summary>
    /// The process dies (the job test driver's crash): the pipeline stops where it is, nothing more is written, the
    /// source closes without a final checkpoint.
    /// </summary>
    internal void Abandon()
    {
        _subscription?.Dispose();
        lock (_pending)
        {
            _pending.Clear();
            _pendingEvents.Clear();
            _pendingEventCount = 0;
        }

        _held.Clear();
    }

    /// <summary>
    /// Checkpoints now: what was emitted since the last one is written, then the checkpoint that covers it. Returns
    /// whether a checkpoint was stored (false: nothing had changed). Throws when the store or the side output fails;
    /// the results then wait for the next checkpoint.
    /// </summary>
    public async Task<bool> CheckpointAsync()
    {
        if (!_handle.IsAttached)
        {
            return false;
        }

        await _checkpointGate.WaitAsync();
        try
        {
            var checkpoint = _handle.Take();
            List<WindowResult<TKey, TResult>> rows;
            List<EventBatch<TEvent>> events;
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
                return false; // nothing new since the last checkpoint
            }

            var started = Stopwatch.GetTimestamp();
            // The batch's span links to the traces of the messages it read (W3C traceparent headers).
            using var activity = EngineTelemetry.Activities.StartActivity(ActivityKind.Internal, links: _source.TakeTraceLinks(), name: $"checkpoint {Name}");
            activity?.SetTag("streamengine.job", Name);
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
            return true;
        }
        finally
        {
            _checkpointGate.Release();
        }
    }

    /// <summary>16 hex digits, unique enough to find one batch in logs, the store's query log and live messages.</summary>
    private static string NewCorrelationId() => ActivitySpanId.CreateRandom().ToHexString();

    /// <summary>The final checkpoint of revoked partitions; if it fails the partitions still go (the next owner resumes from the last stored one).</summary>
    private void FinalCheckpoint()
    {
        try
        {
            CheckpointAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogWarning("job {Job}: the final checkpoint of revoked partitions failed ({Reason}); their next owner resumes from their last stored checkpoint", Name, e.Message);
        }
    }

    private void TrackAssignment(EventBatch<TEvent> batch)
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
    private void Release(PartitionsReleased released)
    {
        var gone = released.Partitions.ToHashSet();
        int dropped;
        lock (_pending)
        {
            dropped = _pending.RemoveAll(r => gone.Contains(r.Partition));
            dropped += _pendingEvents.Where(b => gone.Contains(b.Partition)).Sum(b => b.Count);
            _pendingEvents.RemoveAll(b => gone.Contains(b.Partition));
            _pendingEventCount = _pendingEvents.Sum(b => b.Count);
        }

        if (released.Lost || dropped > 0)
        {
            _log.LogInformation("job {Job}: partitions {Partitions} {How}; {Dropped:N0} unwritten rows of theirs dropped",
                Name, string.Join(',', released.Partitions), released.Lost ? "lost" : "revoked", dropped);
        }
    }

    /// <summary>Holds the next batch while too many rows wait for the store (it is down or slow).</summary>
    private async Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        if (PendingRows < _options.MaxPendingRows || _failed.Task.IsCompleted)
        {
            return;
        }

        Interlocked.Exchange(ref _heldBackSince, DateTime.UtcNow.Ticks);
        var held = Stopwatch.StartNew();
        try
        {
            while (PendingRows >= _options.MaxPendingRows && !_failed.Task.IsCompleted)
            {
                await Task.Delay(50, cancellationToken);
            }
        }
        finally
        {
            Interlocked.Exchange(ref _heldBackSince, 0);
        }

        // A catch-up against a busy store is held back for moments all the time; a long hold is news.
        if (held.Elapsed >= LongHold)
        {
            _log.LogWarning("job {Job}: reading was held back for {Seconds:F0} s while {Max:N0} rows waited for the store", Name, held.Elapsed.TotalSeconds, _options.MaxPendingRows);
        }
    }

    /// <summary>A hold of the source worth a line in the log.</summary>
    private static readonly TimeSpan LongHold = TimeSpan.FromSeconds(10);

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

    private void OnOutput(WindowOutput<TKey, TResult, TEvent> output)
    {
        string? batchId = null;
        if (output.Results.Count > 0)
        {
            lock (_pending)
            {
                batchId = _batchId ??= NewCorrelationId();
            }
        }

        if (_live is not null && batchId is not null)
        {
            foreach (var update in _spec.Live(output.Results))
            {
                _live.Offer(update with { CorrelationId = batchId });
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
            _late.Write(late);
        }

        Interlocked.Add(ref _lateCount, output.Late.Count);
    }

    /// <summary>
    /// The first half of a checkpoint: leaves out partitions this process may no longer write, then writes the
    /// results and accepted events. Returns the checkpoint of what it wrote.
    /// </summary>
    private async Task<Checkpoint> WriteResultsAsync(Checkpoint checkpoint, List<WindowResult<TKey, TResult>> rows, List<EventBatch<TEvent>> events, string batchId, Activity? activity)
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
        fenced.UnionWith(await _store.FencedAsync(held, CancellationToken.None));
        if (fenced.Count > 0)
        {
            Interlocked.Increment(ref _fenced);
            rows.RemoveAll(r => fenced.Contains(r.Partition));
            events.RemoveAll(e => fenced.Contains(e.Partition));
            checkpoint = new Checkpoint([.. checkpoint.Partitions.Where(p => !fenced.Contains(p.Partition))]);
            _log.LogWarning("job {Job}: partitions {Partitions} were lost or claimed by a newer assignment (another process); nothing of theirs is written by this one",
                Name, string.Join(',', fenced.Order()));
        }

        activity?.SetTag("streamengine.result_rows", rows.Count);
        activity?.SetTag("streamengine.partitions", string.Join(',', checkpoint.Partitions.Select(p => p.Partition)));

        // Results and accepted events first, then the checkpoint that says they are covered: a crash between the two
        // only means the replay writes the same rows (same keys and versions) again.
        if (rows.Count > 0 || events.Count > 0)
        {
            await _store.WriteResultsAsync(rows, events, batchId, CancellationToken.None);
        }

        return checkpoint;
    }

    /// <summary>
    /// The second half, once the results are in (a failure here needs nothing back: the next checkpoint's offsets
    /// cover what was written): the dead letters and late events, then the checkpoint that says everything before it is stored.
    /// </summary>
    private async Task StoreCheckpointAsync(Checkpoint checkpoint, int rows, int events, string batchId, long started)
    {
        var job = new KeyValuePair<string, object?>("job", Name);
        // Both throw SideOutputDeliveryException: the checkpoint is not stored (its offsets cover those records).
        _source.DeliverDeadLetters(_options.SideOutputFlushTimeout);
        _late.Flush(_options.SideOutputFlushTimeout);
        await _store.SaveCheckpointAsync(checkpoint, CancellationToken.None);
        _handle.Confirm(checkpoint);
        var storedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var partition in checkpoint.Partitions)
        {
            _source.MarkProcessed(partition.Partition, partition.NextOffset);
            _stateBytes[partition.Partition] = partition.StateBytes;
            if (partition.NewestEventTimeMs != long.MinValue)
            {
                EngineTelemetry.EndToEndLatency.Record(Math.Max(0, storedAtMs - partition.NewestEventTimeMs) / 1000.0, job);
            }
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        EngineTelemetry.CheckpointDuration.Record(elapsed.TotalSeconds, job);
        if (_log.IsEnabled(LogLevel.Debug))
        {
            _log.LogDebug("checkpoint: {Rows:N0} results, {Events:N0} raw events, partitions {Partitions} stored in {Milliseconds:F0} ms (batch {CorrelationId})",
                rows, events, string.Join(", ", checkpoint.Partitions.Select(p => $"{p.Partition}@{p.NextOffset}")), elapsed.TotalMilliseconds, batchId);
        }
    }
}
