using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

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
}

/// <summary>
/// Runs a job in process the way the runtime runs it, over partitions that are in-memory logs and an
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

    public int Partitions => _logs.Length;

    /// <summary>The job's key codec for snapshots, given to every process's checkpoint handle.</summary>
    public object? KeyCodec { get; }

    /// <summary>Virtual processing time, shared by every process (early updates and idleness follow it).</summary>
    public HistoricalScheduler Clock { get; }

    public InMemoryResultsStore<TKey, TResult> Store { get; } = new();

    /// <summary>What every process sent to the late output (at least once: a replay can send a record again).</summary>
    public List<LateEvent<TEvent>> Late { get; } = [];

    /// <summary>Appends events to a partition's log, as producers do.</summary>
    public void Append(int partition, IEnumerable<TEvent> events) => _logs[partition].AddRange(events);

    /// <summary>The length of a partition's log (its high watermark).</summary>
    public long EndOffset(int partition) => _logs[partition].Count;

    /// <summary>Starts a process of the job (no partitions yet).</summary>
    public JobProcess Start() => new(this);

    /// <summary>One engine process: its own aggregation, checkpoint handle and unwritten results.</summary>
    public sealed class JobProcess : IDisposable
    {
        private readonly JobTestDriver<TEvent, TKey, TResult> _driver;
        private readonly Subject<EventBatch<TEvent>> _input = new();
        private readonly CheckpointHandle _handle;
        private readonly IDisposable _subscription;
        private readonly List<WindowResult<TKey, TResult>> _pending = [];
        private readonly Dictionary<int, (long Generation, long NextToRead)> _held = [];
        private readonly Dictionary<(int Partition, long Generation), (long Offset, byte[] State)> _restorable = [];
        private readonly List<EventBatch<TEvent>> _inFlight = []; // taken by the source, not yet handed on, oldest first
        private Exception? _failure;

        internal JobProcess(JobTestDriver<TEvent, TKey, TResult> driver)
        {
            _driver = driver;
            _handle = new CheckpointHandle
            {
                KeyCodec = driver.KeyCodec,
                RestoreState = (partition, offset, generation) =>
                    _restorable.Remove((partition, generation), out var claimed) && claimed.Offset == offset ? claimed.State : null,
            };
            _subscription = driver._build(_input, _handle, driver.Clock).Subscribe(
                output =>
                {
                    _pending.AddRange(output.Results);
                    driver.Late.AddRange(output.Late);
                },
                error => _failure = error);
        }

        /// <summary>Whether the process is gone (crashed, or disposed).</summary>
        public bool Dead { get; private set; }

        /// <summary>The partitions this process believes it holds, with the generation.</summary>
        public IReadOnlyDictionary<int, long> Held => _held.ToDictionary(h => h.Key, h => h.Value.Generation);

        /// <summary>Whether the process still has something of <paramref name="partition"/> to read.</summary>
        public bool HasUnread(int partition) => _held.TryGetValue(partition, out var held) && held.NextToRead < _driver._logs[partition].Count;

        /// <summary>The group gives the partition to this process: it claims it and restores its checkpoint.</summary>
        public void Assign(int partition)
        {
            Alive();
            var (start, state) = _driver.Store.Claim(partition);
            _restorable[(partition, start.Generation)] = (start.Offset, state);
            _held[partition] = (start.Generation, Math.Max(0, start.Offset));
            _input.OnNext(EventBatch.Assigned<TEvent>(partition, start.Offset, start.Generation));
            ThrowIfFailed();
        }

        /// <summary>Reads up to <paramref name="max"/> events of a held partition, and reports its end when reached.</summary>
        public void Poll(int partition, int max)
        {
            Alive();
            if (!_held.TryGetValue(partition, out var held))
            {
                throw new InvalidOperationException($"this process does not hold partition {partition}: a consumer reads only what it is assigned");
            }

            // A partition's batches reach the pipeline in order: those still in flight go first.
            foreach (var batch in _inFlight.Where(b => b.Partition == partition).ToList())
            {
                _inFlight.Remove(batch);
                _input.OnNext(batch);
            }

            var (generation, next) = held;
            var log = _driver._logs[partition];
            var count = (int)Math.Min(max, log.Count - next);
            if (count > 0)
            {
                var events = log.GetRange((int)next, count).ToArray();
                _held[partition] = (generation, next + count);
                _input.OnNext(new EventBatch<TEvent>(partition, events, next + count, EventBatchKind.Events, generation));
            }

            if (next + count == log.Count)
            {
                _input.OnNext(EventBatch.EndReached<TEvent>(partition, next + count, generation));
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
            if (!_held.TryGetValue(partition, out var held))
            {
                throw new InvalidOperationException($"this process does not hold partition {partition}: a consumer reads only what it is assigned");
            }

            var log = _driver._logs[partition];
            var count = (int)Math.Min(max, log.Count - held.NextToRead);
            _held[partition] = (held.Generation, held.NextToRead + count);
            var batch = new EventBatch<TEvent>(partition, log.GetRange((int)held.NextToRead, count).ToArray(), held.NextToRead + count, EventBatchKind.Events, held.Generation);
            _inFlight.Add(batch);
            return batch;
        }

        /// <summary>Hands on the oldest batch in flight, if any; returns it.</summary>
        public EventBatch<TEvent>? DeliverInFlight()
        {
            Alive();
            if (_inFlight.Count == 0)
            {
                return null;
            }

            var batch = _inFlight[0];
            _inFlight.RemoveAt(0);
            _input.OnNext(batch);
            ThrowIfFailed();
            return batch;
        }

        /// <summary>
        /// The checkpoint protocol: take a cut, leave out partitions a newer assignment claimed, write the results, then
        /// the checkpoint, then confirm it; <paramref name="crash"/> kills the process at that step. A failing store
        /// fails the checkpoint (the results wait for the next one). Returns whether the checkpoint was stored.
        /// </summary>
        public bool Checkpoint(CrashPoint crash = CrashPoint.None)
        {
            Alive();
            var checkpoint = _handle.Take();
            var rows = _pending.ToList();
            _pending.Clear();
            var fenced = checkpoint.Partitions.Select(p => p.Partition).Concat(rows.Select(r => r.Partition)).Distinct()
                .Where(p => !_held.TryGetValue(p, out var held) || _driver.Store.IsFenced(p, held.Generation)).ToHashSet();
            rows.RemoveAll(r => fenced.Contains(r.Partition));
            checkpoint = new Checkpoint([.. checkpoint.Partitions.Where(p => !fenced.Contains(p.Partition))]);
            try
            {
                if (crash == CrashPoint.BeforeResults)
                {
                    Crash();
                    return false;
                }

                if (crash == CrashPoint.MidResults)
                {
                    _driver.Store.Write(rows.Take(rows.Count / 2));
                    Crash();
                    return false;
                }

                _driver.Store.Write(rows);
                if (crash == CrashPoint.BeforeCheckpoint)
                {
                    Crash();
                    return false;
                }

                _driver.Store.Save(checkpoint);
                if (crash == CrashPoint.AfterCheckpoint)
                {
                    Crash();
                    return true;
                }
            }
            catch (IOException)
            {
                _pending.InsertRange(0, rows); // nothing stored: they wait for the next checkpoint
                return false;
            }

            _handle.Confirm(checkpoint);
            return true;
        }

        /// <summary>An orderly move: the final checkpoint, then the partition goes (true when that checkpoint was stored).</summary>
        public bool Revoke(int partition)
        {
            Alive();
            var stored = Checkpoint();
            Release(partition, lost: false);
            return stored;
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
            _input.OnCompleted();
            ThrowIfFailed();
        }

        /// <summary>The process dies: everything in memory is gone; the store keeps what was written.</summary>
        public void Crash()
        {
            Dead = true;
            _subscription.Dispose();
            _pending.Clear();
            _held.Clear();
            _inFlight.Clear();
        }

        public void Dispose() => Crash();

        private void Release(int partition, bool lost)
        {
            if (!_held.Remove(partition, out var held))
            {
                return;
            }

            _input.OnNext(lost ? EventBatch.Lost<TEvent>(partition, held.Generation) : EventBatch.Revoked<TEvent>(partition, held.Generation));
            _pending.RemoveAll(r => r.Partition == partition);
            ThrowIfFailed();
        }

        private void Alive() => ObjectDisposedException.ThrowIf(Dead, this);

        private void ThrowIfFailed()
        {
            if (_failure is { } failure)
            {
                throw new InvalidOperationException($"the job failed: {failure.Message}", failure);
            }
        }
    }
}
