using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using Microsoft.Extensions.Logging.Abstractions;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Runtime.Testing;

/// <summary>Where a checkpoint can be cut short by a crash of its process.</summary>
public enum CrashPoint
{
    /// <summary>No crash: the checkpoint completes.</summary>
    None,

    /// <summary>Before any result is written.</summary>
    BeforeResults,

    /// <summary>After half of the result rows are written.</summary>
    MidResults,

    /// <summary>After the results, before the checkpoint that covers them.</summary>
    BeforeCheckpoint,

    /// <summary>After the checkpoint is stored, before the process learns it is (it never confirms it).</summary>
    AfterCheckpoint,

    /// <summary>After the checkpoint's state segments are stored, before its rows (segments no row refers to).</summary>
    AfterStateSegments,
}

/// <summary>
/// Runs a job in process through the runtime's own <see cref="StreamingJob{TEvent,TKey,TResult}"/> (its lifecycle and
/// checkpoint protocol, not a copy of them), over partitions that are in-memory logs and an
/// <see cref="InMemoryResultsStore{TKey,TResult}"/>, in virtual time (the role Kafka Streams' TopologyTestDriver
/// plays). Several processes (<see cref="Start"/>) share the logs and the store, as engines of one consumer group
/// share a topic and ClickHouse; the verbs are the partition lifecycle (assign, revoke, lose, take over without
/// telling the old owner) and the faults (a crash at any step of the checkpoint protocol, a failing store).
/// </summary>
public sealed class JobTestDriver<TEvent, TKey, TResult>
    where TKey : notnull
{
    private readonly Func<IObservable<EventBatch<TEvent>>, CheckpointHandle, IScheduler, IObservable<WindowOutput<TKey, TResult, TEvent>>> _build;
    private readonly List<TEvent>[] _logs;
    private int _failingSideOutputs;

    /// <param name="partitions">How many partitions the topic has.</param>
    /// <param name="build">The job's pipeline: events, checkpoints and a clock in, windowed output out.</param>
    /// <param name="startMs">Where the virtual clock starts (epoch ms).</param>
    /// <param name="keyCodec">How the job writes its keys into snapshots (its <c>KeyCodec</c>); null: the default codec.</param>
    public JobTestDriver(int partitions, Func<IObservable<EventBatch<TEvent>>, CheckpointHandle, IScheduler, IObservable<WindowOutput<TKey, TResult, TEvent>>> build, long startMs = 0,
        object? keyCodec = null)
    {
        KeyCodec = keyCodec;
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentNullException.ThrowIfNull(build);
        _build = build;
        _logs = [.. Enumerable.Range(0, partitions).Select(_ => new List<TEvent>())];
        Clock = new HistoricalScheduler(DateTimeOffset.FromUnixTimeMilliseconds(startMs));
    }

    /// <summary>How many partitions the logs have.</summary>
    public int Partitions => _logs.Length;

    /// <summary>The job's key codec for snapshots, given to every process's checkpoint handle.</summary>
    public object? KeyCodec { get; }

    /// <summary>Virtual processing time, shared by every process (early updates and idleness follow it).</summary>
    public HistoricalScheduler Clock { get; }

    /// <summary>The store every process of the driver writes to.</summary>
    public InMemoryResultsStore<TKey, TResult> Store { get; } = new();

    /// <summary>What every process sent to the late output (at least once: a replay can send a record again).</summary>
    public List<LateEvent<TEvent>> Late { get; } = [];

    /// <summary>Appends events to a partition's log, as producers do.</summary>
    public void Append(int partition, IEnumerable<TEvent> events) => _logs[partition].AddRange(events);

    /// <summary>
    /// The next <paramref name="count"/> checkpoints find the side outputs (dead letters) undeliverable: each writes
    /// its results but stores no checkpoint, as when the dead-letter topic is down.
    /// </summary>
    public void FailNextSideOutputDeliveries(int count) => _failingSideOutputs = Math.Max(0, count);

    /// <summary>The length of a partition's log (its high watermark).</summary>
    public long EndOffset(int partition) => _logs[partition].Count;

    /// <summary>Starts a process of the job (no partitions yet).</summary>
    public JobProcess Start() => new(this);

    /// <summary>
    /// One engine process: the runtime's <see cref="StreamingJob{TEvent,TKey,TResult}"/> over an in-memory source (the
    /// driver's verbs are its polls and partition changes), the shared store (which crashes the process at the step
    /// asked) and the shared late output.
    /// </summary>
    public sealed class JobProcess : IDisposable
    {
        private readonly JobTestDriver<TEvent, TKey, TResult> _driver;
        private readonly InMemorySource _source;
        private readonly ProcessStore _store;
        private readonly StreamingJob<TEvent, TKey, TResult> _job;

        internal JobProcess(JobTestDriver<TEvent, TKey, TResult> driver)
        {
            _driver = driver;
            _source = new InMemorySource(driver);
            _store = new ProcessStore(driver.Store);
            var spec = new StreamingJobSpec<TEvent, TKey, TResult>("under-test", (events, context) => driver._build(events, context.Checkpoints!, context.Scheduler))
            {
                KeyCodec = driver.KeyCodec,
            };
            _job = new StreamingJob<TEvent, TKey, TResult>(spec, _source, _store, new LateOutput(driver.Late), NullLogger.Instance, scheduler: driver.Clock);
            _job.Start();
        }

        /// <summary>Whether the process is gone (crashed, or disposed).</summary>
        public bool Dead { get; private set; }

        /// <summary>The partitions this process believes it holds, with the generation.</summary>
        public IReadOnlyDictionary<int, long> Held => _source.Held.ToDictionary(h => h.Key, h => h.Value.Generation);

        /// <summary>Whether the process still has something of <paramref name="partition"/> to read.</summary>
        public bool HasUnread(int partition) => _source.Held.TryGetValue(partition, out var held) && held.NextToRead < _driver._logs[partition].Count;

        /// <summary>The group gives the partition to this process: it claims it and restores its checkpoint.</summary>
        public void Assign(int partition)
        {
            Alive();
            var (start, state) = _driver.Store.Claim(partition);
            _store.Restorable[(partition, start.Generation)] = (start.Offset, state);
            _source.Held[partition] = (start.Generation, Math.Max(0, start.Offset));
            _source.Lost.Remove(partition);
            _source.Hand(EventBatch.Assigned<TEvent>(partition, start.Offset, start.Generation));
            ThrowIfFailed();
        }

        /// <summary>Reads up to <paramref name="max"/> events of a held partition, and reports its end when reached.</summary>
        public void Poll(int partition, int max)
        {
            Alive();
            var (generation, next) = HeldOrThrow(partition);
            // A partition's batches reach the pipeline in order: those still in flight go first.
            foreach (var batch in _source.InFlight.Where(b => b.Partition == partition).ToList())
            {
                _source.InFlight.Remove(batch);
                _source.Hand(batch);
            }

            var log = _driver._logs[partition];
            var count = (int)Math.Min(max, log.Count - next);
            if (count > 0)
            {
                var events = log.GetRange((int)next, count).ToArray();
                _source.Held[partition] = (generation, next + count);
                _source.Hand(new EventBatch<TEvent>(partition, events, next + count, EventBatchKind.Events, generation));
            }

            if (next + count == log.Count)
            {
                _source.Hand(EventBatch.EndReached<TEvent>(partition, next + count, generation));
            }

            ThrowIfFailed();
        }

        /// <summary>
        /// Takes up to <paramref name="max"/> events of a held partition off the log without handing them on yet: a
        /// batch in flight inside the source (taken in the middle of a poll when the revocation came), which
        /// <see cref="DeliverInFlight"/> hands on later, perhaps after the partition moved: it carries the generation it
        /// was read as, and must then be discarded, never become state. Batches of one partition stay in order.
        /// </summary>
        public EventBatch<TEvent> TakeInFlight(int partition, int max)
        {
            Alive();
            var (generation, next) = HeldOrThrow(partition);
            var log = _driver._logs[partition];
            var count = (int)Math.Min(max, log.Count - next);
            _source.Held[partition] = (generation, next + count);
            var batch = new EventBatch<TEvent>(partition, log.GetRange((int)next, count).ToArray(), next + count, EventBatchKind.Events, generation);
            _source.InFlight.Add(batch);
            return batch;
        }

        /// <summary>Hands on the oldest batch in flight, if any; returns it.</summary>
        public EventBatch<TEvent>? DeliverInFlight()
        {
            Alive();
            if (_source.InFlight.Count == 0)
            {
                return null;
            }

            var batch = _source.InFlight[0];
            _source.InFlight.RemoveAt(0);
            _source.Hand(batch);
            ThrowIfFailed();
            return batch;
        }

        /// <summary>
        /// The runtime's checkpoint (<see cref="StreamingJob{TEvent,TKey,TResult}.CheckpointAsync"/>): a cut, fencing,
        /// the results, the late records, the checkpoint, its confirmation; <paramref name="crash"/> kills the process
        /// at that step. A failing store fails the checkpoint (the results wait for the next one). Returns whether
        /// everything emitted so far is now covered by a stored checkpoint.
        /// </summary>
        public bool Checkpoint(CrashPoint crash = CrashPoint.None)
        {
            Alive();
            _store.CrashAt = crash;
            try
            {
                _job.CheckpointAsync().GetAwaiter().GetResult();
                return true;
            }
            catch (ProcessCrashed)
            {
                Crash();
                return crash == CrashPoint.AfterCheckpoint;
            }
            catch (Exception e) when (e is IOException or SideOutputDeliveryException)
            {
                return false;
            }
            finally
            {
                _store.CrashAt = CrashPoint.None;
            }
        }

        /// <summary>An orderly move: the runtime's final checkpoint, then the partition goes (true when that checkpoint was stored).</summary>
        public bool Revoke(int partition)
        {
            Alive();
            if (!_source.Held.ContainsKey(partition))
            {
                return true;
            }

            var failures = _store.Failures;
            _source.Hooks.OnRevoking([partition]);
            Release(partition, lost: false);
            return _store.Failures == failures;
        }

        /// <summary>The group took the partition away without a revocation: its state and unwritten results go.</summary>
        public void Lose(int partition)
        {
            Alive();
            Release(partition, lost: true);
        }

        /// <summary>
        /// End of input: every window closes and its final result is emitted; the job's stream ends with it, so no
        /// checkpoint can follow (as a job that completes). To see every window's newest value and still checkpoint,
        /// advance <see cref="Clock"/> by the emit interval instead.
        /// </summary>
        public void Complete()
        {
            Alive();
            _source.Input.OnCompleted();
            ThrowIfFailed();
        }

        /// <summary>The process dies: everything in memory is gone; the store keeps what was written.</summary>
        public void Crash()
        {
            Dead = true;
            _job.Abandon();
            _source.Held.Clear();
            _source.InFlight.Clear();
        }

        /// <summary>Crashes the process (what leaving a test without completing it means).</summary>
        public void Dispose() => Crash();

        private (long Generation, long NextToRead) HeldOrThrow(int partition) =>
            _source.Held.TryGetValue(partition, out var held)
                ? held
                : throw new InvalidOperationException($"this process does not hold partition {partition}: a consumer reads only what it is assigned");

        private void Release(int partition, bool lost)
        {
            if (!_source.Held.Remove(partition, out var held))
            {
                return;
            }

            if (lost)
            {
                _source.Lost[partition] = held.Generation;
            }

            _source.Hand(lost ? EventBatch.Lost<TEvent>(partition, held.Generation) : EventBatch.Revoked<TEvent>(partition, held.Generation));
            _source.Hooks.OnReleased(new PartitionsReleased([partition], lost));
            ThrowIfFailed();
        }

        private void Alive() => ObjectDisposedException.ThrowIf(Dead, this);

        private void ThrowIfFailed()
        {
            if (_job.Failure is { } failure)
            {
                throw new InvalidOperationException($"the job failed: {failure.Message}", failure);
            }
        }
    }

    /// <summary>A process's source: the driver's verbs hand batches on; it holds what the process believes it holds.</summary>
    private sealed class InMemorySource(JobTestDriver<TEvent, TKey, TResult> driver) : IPartitionedSource<TEvent>
    {
        public Subject<EventBatch<TEvent>> Input { get; } = new();

        public Dictionary<int, (long Generation, long NextToRead)> Held { get; } = [];

        public Dictionary<int, long> Lost { get; } = [];

        /// <summary>Batches taken by the source, not yet handed on, oldest first.</summary>
        public List<EventBatch<TEvent>> InFlight { get; } = [];

        public SourceHooks Hooks { get; private set; } = new();

        public string Topic => "in-memory";

        public string Description => $"reading {driver.Partitions} in-memory partitions";

        public Task Completion { get; } = new TaskCompletionSource().Task;

        public SourceCounters Counters => default;

        public IReadOnlyDictionary<int, long> ConsumerLag => Held.ToDictionary(h => h.Key, h => driver._logs[h.Key].Count - h.Value.NextToRead);

        public IReadOnlyList<int> AssignedPartitions => [.. Held.Keys.Order()];

        public bool IsCaughtUp => Held.All(h => h.Value.NextToRead == driver._logs[h.Key].Count) && InFlight.Count == 0;

        public void DeliverDeadLetters(TimeSpan timeout)
        {
            // The driver's events are decoded already, so nothing is dead-lettered; a delivery can still be made to fail.
            if (driver._failingSideOutputs > 0)
            {
                driver._failingSideOutputs--;
                throw new SideOutputDeliveryException("the side output is down (the driver fails its delivery)");
            }
        }

        public IObservable<EventBatch<TEvent>> Read(SourceHooks hooks)
        {
            Hooks = hooks;
            return Input;
        }

        public void Hand(EventBatch<TEvent> batch) => Input.OnNext(batch);

        public bool WasLost(int partition, long generation) => Lost.TryGetValue(partition, out var lost) && lost == generation;

        public void MarkProcessed(int partition, long nextOffset)
        {
        }

        public IReadOnlyList<ActivityLink> TakeTraceLinks() => [];

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>The shared store as one process sees it: the state its claims read, and the crash it was told to die of.</summary>
    private sealed class ProcessStore(InMemoryResultsStore<TKey, TResult> store) : IResultsStore<TEvent, TKey, TResult>
    {
        public Dictionary<(int Partition, long Generation), (long Offset, byte[] State)> Restorable { get; } = [];

        public CrashPoint CrashAt { get; set; }

        /// <summary>Writes the store refused.</summary>
        public int Failures { get; private set; }

        public string Description => "the in-memory results store";

        public long ResultRows => store.RowsWritten;

        public long FailedWriteAttempts => Failures;

        public IReadOnlyList<(string Table, WriterCounters Counters)> Sinks => [];

        public byte[]? RestoreState(int partition, long offset, long generation) =>
            Restorable.Remove((partition, generation), out var claimed) && claimed.Offset == offset ? claimed.State : null;

        public Task<IReadOnlyCollection<int>> FencedAsync(IReadOnlyDictionary<int, long> held, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyCollection<int>>([.. held.Where(h => store.IsFenced(h.Key, h.Value)).Select(h => h.Key)]);

        public Task WriteResultsAsync(IReadOnlyList<WindowResult<TKey, TResult>> results, IReadOnlyList<EventBatch<TEvent>> accepted, string batchId, CancellationToken cancellationToken)
        {
            switch (CrashAt)
            {
                case CrashPoint.BeforeResults:
                    throw new ProcessCrashed();
                case CrashPoint.MidResults:
                    Refused(() => store.Write(results.Take(results.Count / 2)));
                    throw new ProcessCrashed();
            }

            Refused(() => store.Write(results));
            return Task.CompletedTask;
        }

        public Task SaveCheckpointAsync(Checkpoint checkpoint, CancellationToken cancellationToken)
        {
            switch (CrashAt)
            {
                case CrashPoint.BeforeCheckpoint:
                    throw new ProcessCrashed();
                case CrashPoint.AfterStateSegments:
                    Refused(() => store.SaveSegments(checkpoint));
                    throw new ProcessCrashed();
            }

            Refused(() => store.Save(checkpoint));
            return CrashAt == CrashPoint.AfterCheckpoint ? throw new ProcessCrashed() : Task.CompletedTask;
        }

        private void Refused(Action write)
        {
            try
            {
                write();
            }
            catch (IOException)
            {
                Failures++;
                throw;
            }
        }
    }

    /// <summary>The shared late output: records go to <see cref="Late"/> at once, so a flush always succeeds.</summary>
    private sealed class LateOutput(List<LateEvent<TEvent>> late) : ISideOutput<TEvent>
    {
        public void Write(LateEvent<TEvent> record) => late.Add(record);

        public void Flush(TimeSpan timeout)
        {
        }

        public void Dispose()
        {
        }
    }

    /// <summary>The process died at the step it was told to (thrown out of the store, caught by the driver).</summary>
    private sealed class ProcessCrashed : Exception;
}
