using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Dsl;

/// <summary>
/// The job DSL's entry point: a stream of event batches, given event time, becomes an <see cref="EventStream{TEvent}"/>:
/// <code>
/// batches.WithEventTime(e => e.TimestampMs)
///        .Deduplicate(e => e.Id)
///        .Where(e => e.Type == AdEventType.Impression)
///        .KeyBy(e => e.Campaign)
///        .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
///        .Aggregate(Aggregators.Count&lt;AdEvent&gt;());
/// </code>
/// Every stage is fused into one per-event loop over each batch; one <c>OnNext</c> per batch or timer tick.
/// </summary>
public static class StreamExtensions
{
    /// <summary>Says where each event's event time (Unix epoch milliseconds, UTC) is.</summary>
    public static EventStream<TEvent> WithEventTime<TEvent>(this IObservable<EventBatch<TEvent>> source, Func<TEvent, long> eventTimeMs)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(eventTimeMs);
        return new EventStream<TEvent>(source, eventTimeMs, null, null);
    }
}

/// <summary>Events with event time, not yet keyed.</summary>
public sealed class EventStream<TEvent>
{
    internal EventStream(IObservable<EventBatch<TEvent>> source, Func<TEvent, long> eventTime, Func<TEvent, bool>? filter, Func<TEvent, UInt128>? eventId)
    {
        Source = source;
        EventTime = eventTime;
        Filter = filter;
        EventId = eventId;
    }

    internal IObservable<EventBatch<TEvent>> Source { get; }

    internal Func<TEvent, long> EventTime { get; }

    internal Func<TEvent, bool>? Filter { get; }

    internal Func<TEvent, UInt128>? EventId { get; }

    /// <summary>Keeps the events that satisfy <paramref name="predicate"/> (several Where calls all apply).</summary>
    public EventStream<TEvent> Where(Func<TEvent, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var previous = Filter;
        return new EventStream<TEvent>(Source, EventTime, previous is null ? predicate : e => previous(e) && predicate(e), EventId);
    }

    /// <summary>Drops repeated events by id (a 128-bit hash of it) within the dedup horizon; duplicates are counted.</summary>
    public EventStream<TEvent> Deduplicate(Func<TEvent, UInt128> eventId)
    {
        ArgumentNullException.ThrowIfNull(eventId);
        return new EventStream<TEvent>(Source, EventTime, Filter, eventId);
    }

    /// <summary>Groups by key; windows and aggregates are per key.</summary>
    public KeyedStream<TEvent, TKey> KeyBy<TKey>(Func<TEvent, TKey> key)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(key);
        return new KeyedStream<TEvent, TKey>(this, key);
    }
}

/// <summary>Keyed events, waiting for a window.</summary>
public sealed class KeyedStream<TEvent, TKey>
    where TKey : notnull
{
    private readonly EventStream<TEvent> _events;
    private readonly Func<TEvent, TKey> _key;

    internal KeyedStream(EventStream<TEvent> events, Func<TEvent, TKey> key)
    {
        _events = events;
        _key = key;
    }

    /// <summary>Cuts each key's events into event-time windows (see <see cref="Windows"/>).</summary>
    public WindowedStream<TEvent, TKey> Window(WindowSpec window)
    {
        ArgumentNullException.ThrowIfNull(window);
        return new WindowedStream<TEvent, TKey>(_events.Source, new WindowedAggregationSpec<TEvent, TKey>(_events.EventTime, _key, window, _events.Filter, _events.EventId));
    }
}

/// <summary>Keyed, windowed events: aggregate them.</summary>
public sealed class WindowedStream<TEvent, TKey>
    where TKey : notnull
{
    private readonly IObservable<EventBatch<TEvent>> _source;

    internal WindowedStream(IObservable<EventBatch<TEvent>> source, WindowedAggregationSpec<TEvent, TKey> spec)
    {
        _source = source;
        Spec = spec;
    }

    /// <summary>The window, keying and deduplication the stream was built with.</summary>
    public WindowedAggregationSpec<TEvent, TKey> Spec { get; }

    /// <summary>Counts events per key and window.</summary>
    public IObservable<WindowOutput<TKey, long, TEvent>> Count(WindowOptions? options = null, IScheduler? scheduler = null) =>
        Aggregate(Aggregators.Count<TEvent>(), options, scheduler);

    /// <summary>
    /// Aggregates as <see cref="Aggregate{TAccumulator,TResult}(IAggregator{TEvent,TAccumulator,TResult},WindowOptions?,IScheduler?)"/>,
    /// with state per source partition, restored from and checkpointed through <paramref name="checkpoints"/> (for
    /// exactly-once sinks). Each partition has its own windows, watermark and dedup ids; results carry their
    /// partition, and a key whose events span partitions gets one partial per partition, for the sink to add up.
    /// </summary>
    public IObservable<WindowOutput<TKey, TResult, TEvent>> Aggregate<TAccumulator, TResult>(
        IAggregator<TEvent, TAccumulator, TResult> aggregator, WindowOptions? options, IScheduler? scheduler, CheckpointHandle checkpoints)
    {
        ArgumentNullException.ThrowIfNull(checkpoints);
        return AggregateCore(aggregator, options, scheduler, checkpoints);
    }

    /// <summary>
    /// Aggregates per key and window. Emits the results and late events of each batch as one output, early and
    /// late updates every <see cref="WindowOptions.EmitInterval"/> of <paramref name="scheduler"/> time, and the
    /// finals of every window when the source completes.
    /// </summary>
    public IObservable<WindowOutput<TKey, TResult, TEvent>> Aggregate<TAccumulator, TResult>(
        IAggregator<TEvent, TAccumulator, TResult> aggregator, WindowOptions? options = null, IScheduler? scheduler = null) =>
        AggregateCore(aggregator, options, scheduler, checkpoints: null);

    private IObservable<WindowOutput<TKey, TResult, TEvent>> AggregateCore<TAccumulator, TResult>(
        IAggregator<TEvent, TAccumulator, TResult> aggregator, WindowOptions? options, IScheduler? scheduler, CheckpointHandle? checkpoints)
    {
        ArgumentNullException.ThrowIfNull(aggregator);
        options ??= new WindowOptions();
        options.Validate(Spec.Window);
        scheduler ??= DefaultScheduler.Instance;
        var spec = Spec;
        var source = _source;
        return Observable.Create<WindowOutput<TKey, TResult, TEvent>>(observer =>
        {
            var tasks = new AggregationTasks<TEvent, TKey, TAccumulator, TResult>(spec, aggregator, options, checkpoints);
            var gate = new object();

            var done = false;
            var emitUpdates = options.EmitInterval > TimeSpan.Zero;
            var lastUpdatesMs = long.MinValue / 2; // when the last tick emitted updates
            var heldBack = false; // a paced tick left updates pending since
            // The events of a batch that went into windows: collected in one list reused for every batch, and kept as
            // the batch's own memory when all of them did (the usual case), so an event is copied at most once.
            var acceptedScratch = options.EmitAcceptedEvents ? new List<TEvent>() : null;
            var tickInterval = emitUpdates ? options.EmitInterval : TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, options.IdleTimeout.Ticks / 4));

            void Publish(List<WindowResult<TKey, TResult>> results, List<LateEvent<TEvent>> late, EventBatch<TEvent> accepted = default, bool discarded = false)
            {
                // A discarded batch emits its counters alone: nothing else would tell that events were dropped.
                if (results.Count > 0 || late.Count > 0 || accepted.Count > 0 || discarded)
                {
                    observer.OnNext(new WindowOutput<TKey, TResult, TEvent>(results, late, tasks.Counters) { Accepted = accepted });
                }
            }

            static EventBatch<TEvent> AcceptedOf(in EventBatch<TEvent> batch, List<TEvent>? accepted) =>
                accepted is not { Count: > 0 } ? default
                : new EventBatch<TEvent>(batch.Partition, accepted.Count == batch.Count ? batch.Events : accepted.ToArray(), batch.NextOffset, EventBatchKind.Events, batch.Generation);

            // A failure inside the operator (a snapshot that does not restore, an aggregator that throws) ends the
            // stream with the error instead of escaping into the source.
            void Fail(Exception error)
            {
                done = true;
                observer.OnError(error);
            }

            // A processing-time tick. While the runner reads a backlog, updates go out at its slower pace (idleness is
            // still checked every tick); a checkpoint first emits what that held back (flush), so what it stores has
            // every result its offsets cover: the first catch-up, a revocation and the end of a run write the newest values.
            void TickNow(bool flush)
            {
                lock (gate)
                {
                    if (done || (flush && !heldBack))
                    {
                        return;
                    }

                    var results = new List<WindowResult<TKey, TResult>>();
                    var nowMs = scheduler.Now.ToUnixTimeMilliseconds();
                    var paced = !flush && checkpoints?.BacklogEmitInterval is { } backlogInterval && nowMs - lastUpdatesMs < (long)backlogInterval.TotalMilliseconds;
                    try
                    {
                        tasks.Tick(nowMs, results, emitUpdates: !paced);
                    }
                    catch (Exception e) when (e is InvalidOperationException or InvalidDataException or ArgumentException)
                    {
                        Fail(e);
                        return;
                    }

                    heldBack = paced;
                    if (!paced)
                    {
                        lastUpdatesMs = nowMs;
                    }

                    if (!emitUpdates)
                    {
                        results.RemoveAll(r => r.Emission is WindowEmission.Early or WindowEmission.LateUpdate);
                    }

                    Publish(results, []);
                }
            }

            checkpoints?.Attach(
                changedSince =>
                {
                    TickNow(flush: true);
                    return tasks.Take(changedSince, gate);
                },
                stored =>
                {
                    lock (gate)
                    {
                        tasks.Stored(stored);
                    }
                });
            var timer = scheduler.SchedulePeriodic(tickInterval, () => TickNow(flush: false));

            var subscription = source.Subscribe(
                batch =>
                {
                    lock (gate)
                    {
                        if (done)
                        {
                            return;
                        }

                        var results = new List<WindowResult<TKey, TResult>>();
                        var late = new List<LateEvent<TEvent>>();
                        List<TEvent>? accepted = null;
                        if (acceptedScratch is not null && batch.Count > 0)
                        {
                            acceptedScratch.Clear();
                            accepted = acceptedScratch;
                        }

                        var discardedBefore = tasks.Discarded;
                        try
                        {
                            tasks.Process(batch, scheduler.Now.ToUnixTimeMilliseconds(), results, late, accepted);
                        }
                        catch (Exception e) when (e is InvalidOperationException or InvalidDataException or ArgumentException or EndOfStreamException)
                        {
                            Fail(e);
                            return;
                        }

                        Publish(results, late, AcceptedOf(batch, accepted), tasks.Discarded != discardedBefore);
                    }
                },
                error =>
                {
                    lock (gate)
                    {
                        Fail(error);
                    }
                },
                () =>
                {
                    lock (gate)
                    {
                        done = true;
                        var results = new List<WindowResult<TKey, TResult>>();
                        tasks.Drain(results);
                        Publish(results, []);
                        observer.OnCompleted();
                    }
                });

            return new CompositeDisposable(subscription, timer, Disposable.Create(() => checkpoints?.Detach()));
        });
    }
}
