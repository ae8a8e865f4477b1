using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using StreamEngine.Core.Events;
using StreamEngine.Core.Telemetry;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Kafka.Source;

/// <summary>
/// Reads events in any <see cref="IEventFormat{TEvent}"/> from Kafka in a consumer group (<c>group.protocol=consumer</c>, auto-commit off), decodes them
/// on the poll thread and hands the pipeline one batch per partition per poll through a bounded channel. Bad
/// messages go to the dead-letter topic with their reason (delivery confirmed before a checkpoint covering them is
/// stored, <see cref="DeliverDeadLetters"/>);
/// partitions start where <see cref="IResumePositions"/> says the results end, each assignment claimed as a new
/// generation that every batch of it carries; when the pipeline falls behind the partitions are paused (nothing
/// buffers without bound) and resumed when it has caught up. Revocations wait for the pipeline to flush the
/// partitions' results; events of a revoked or lost partition not yet handed on are dropped (the next owner reads
/// them again from the stored offsets). Reaching a partition's end (the broker's high watermark) is reported, the
/// only thing that may make a partition idle.
/// </summary>
public sealed class KafkaSource<TEvent> : IPartitionedSource<TEvent>
{
    private static readonly string[] SecretMarkers = ["password", "secret", "key", "token", "jaas"];
    private readonly KafkaSourceOptions _options;
    private readonly IResumePositions _positions;
    private readonly IEventFormat<TEvent> _format;
    private readonly Action<string> _log;
    private readonly Channel<SourceSignal> _signals;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<int, long> _lag = new();
    private readonly ConcurrentDictionary<int, long> _processed = new();
    private readonly ConcurrentDictionary<int, byte> _assigned = new();
    private readonly ConcurrentQueue<ActivityContext> _incomingTraces = new();
    private readonly Dictionary<int, PolledEvents<TEvent>> _byPartition = [];
    private readonly Dictionary<int, (long NextOffset, int DeadLettered)> _progress = [];
    private readonly Dictionary<int, long> _nextToRead = [];  // consumer thread only; -1: the partition's beginning
    private readonly Dictionary<int, long> _generations = [];  // consumer thread only: the assignment each partition is held as
    private readonly HashSet<int> _endsReached = [];           // consumer thread only: partitions read to their end in this poll
    private readonly Queue<SourceSignal> _overflow = new();    // consumer thread only: signals polled while the channel was full, in order
    private readonly ConcurrentDictionary<int, long> _lost = new(); // partition -> the generation it was lost as, until assigned again
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _deadLetterGate = new();     // the dead-letter producer's lifetime against checkpoints that wait for it
    private RedeliveringProducer? _deadLetters;          // null before the poll loop starts and once it has ended
    private bool _deadLettersLostAtStop;                 // the loop ended with dead letters it could not deliver
    private Thread? _thread;
    private long _messagesIn;
    private long _decoded;
    private long _deadLettered;
    private long _pauses;
    private long _transientErrors;
    private long _lostToRetention;
    private long _partitionCountChanges;
    private int _partitionCount = -1; // statistics thread only
    private volatile string? _fatal;
    private volatile System.Runtime.ExceptionServices.ExceptionDispatchInfo? _callbackFailure; // the first consumer callback that threw
    private volatile bool _caughtUp;
    private volatile int _overflowing; // _overflow.Count, for other threads
    private volatile bool _paused;     // the partitions are paused: the statistics' high watermarks are stale
    private DateTime _lagAskedAt;      // consumer thread only: when the pause began or the brokers were last asked for the lag

    public KafkaSource(KafkaSourceOptions options, IResumePositions positions, IEventFormat<TEvent> format, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(format);
        _options = options;
        _positions = positions;
        _format = format;
        _log = log ?? (_ => { });
        _signals = Channel.CreateBounded<SourceSignal>(new BoundedChannelOptions(options.MaxBufferedBatches) { SingleReader = true, SingleWriter = true });
    }

    /// <summary>Events and partition changes, in order. Completes when the source stops; faults on a fatal error.</summary>
    public ChannelReader<SourceSignal> Signals => _signals.Reader;

    /// <summary>Completes when the poll loop ends; faults with the reason when it ends on a fatal error.</summary>
    public Task Completion => _completion.Task;

    public SourceCounters Counters => new(Interlocked.Read(ref _messagesIn), Interlocked.Read(ref _decoded), Interlocked.Read(ref _deadLettered),
        Interlocked.Read(ref _pauses), Interlocked.Read(ref _transientErrors))
    {
        PartitionCountChanges = Interlocked.Read(ref _partitionCountChanges),
        LostToRetention = Interlocked.Read(ref _lostToRetention),
    };

    /// <summary>Consumer lag per partition from librdkafka's statistics: messages behind the high watermark not yet read.</summary>
    public IReadOnlyDictionary<int, long> ConsumerLag => _lag;

    /// <summary>The partitions of the topic this consumer holds now, in order.</summary>
    public IReadOnlyList<int> AssignedPartitions => [.. _assigned.Keys.Order()];

    /// <summary>
    /// The W3C trace contexts (<c>traceparent</c>, <c>tracestate</c> headers) of messages read since the last call, at
    /// most <see cref="MaxTraceLinks"/>: the spans of the batch they went into link to them. Gathered only while
    /// someone listens to the engine's activities.
    /// </summary>
    public IReadOnlyList<ActivityLink> TakeTraceLinks()
    {
        var links = new List<ActivityLink>();
        while (_incomingTraces.TryDequeue(out var context))
        {
            links.Add(new ActivityLink(context));
        }

        return links;
    }

    /// <summary>Most incoming trace contexts kept between two <see cref="TakeTraceLinks"/>.</summary>
    public const int MaxTraceLinks = 32;

    /// <summary>Where the source reports what an operator must act on (messages lost to retention); the plain log when unset.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>The topic read.</summary>
    public string Topic => _options.Topic;

    /// <summary>
    /// Whether, at the last poll that found nothing, partitions were assigned and every one had been read up to its
    /// high watermark (asked of the brokers, not taken from the periodic statistics), and the pipeline has taken
    /// everything read. Any message read clears it.
    /// </summary>
    public bool IsCaughtUp => _caughtUp && _signals.Reader.Count == 0 && _overflowing == 0;

    public string Description => $"reading {_options.Topic} at {_options.BootstrapServers} as group {_options.GroupId}";

    /// <inheritdoc cref="SourceObservable.ToObservable"/>
    public IObservable<EventBatch<TEvent>> Read(SourceHooks hooks)
    {
        ArgumentNullException.ThrowIfNull(hooks);
        return this.ToObservable(revoked => hooks.OnRevoking(revoked.Partitions), hooks.WaitForRoom,
            revoked => hooks.OnReleased(new PartitionsReleased(revoked.Partitions, revoked.Lost)));
    }

    /// <summary>The pass-through client settings with secret values masked: safe to log.</summary>
    public IReadOnlyDictionary<string, string> RedactedSettings =>
        _options.ClientSettings.ToDictionary(s => s.Key, s => SecretMarkers.Any(m => s.Key.Contains(m, StringComparison.OrdinalIgnoreCase)) ? "****" : s.Value, StringComparer.Ordinal);

    public void Start()
    {
        if (_thread is not null)
        {
            throw new InvalidOperationException("the source is already running");
        }

        Librdkafka.EnsureLoaded();
        _thread = new Thread(Run) { IsBackground = true, Name = $"kafka-source-{_options.Topic}" };
        _thread.Start();
    }

    /// <summary>
    /// Whether the consumer has been told it lost <paramref name="partition"/> as <paramref name="generation"/>: known on
    /// the poll thread at once, before the news reaches the pipeline through the queue of batches.
    /// </summary>
    public bool WasLost(int partition, long generation) => _lost.TryGetValue(partition, out var lost) && lost == generation;

    /// <summary>Results up to <paramref name="nextOffset"/> of a partition are stored: commit it, for lag monitoring.</summary>
    public void MarkProcessed(int partition, long nextOffset) => _processed.AddOrUpdate(partition, nextOffset, (_, old) => Math.Max(old, nextOffset));

    /// <summary>Stops polling, leaves the group and waits for the poll loop to end.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_thread is not null)
        {
            try
            {
                await Completion.ConfigureAwait(false);
            }
            catch (KafkaSourceException)
            {
                // Already reported through Completion.
            }
        }

        _stop.Dispose();
    }

    private void Run()
    {
        try
        {
            // The clients are closed before completion is signalled, so nothing of theirs outlives the source.
            using (var deadLetterProducer = new ProducerBuilder<byte[], byte[]>(ProducerConfig()).Build())
            using (var consumer = BuildConsumer())
            {
                consumer.Subscribe(_options.Topic);
                _log($"kafka source: reading {_options.Topic} as group {_options.GroupId} from {_options.BootstrapServers}");
                var deadLetters = new RedeliveringProducer(deadLetterProducer, _options.DeadLetterTopic);
                lock (_deadLetterGate)
                {
                    _deadLetters = deadLetters;
                }

                try
                {
                    try
                    {
                        Poll(consumer, deadLetters);
                    }
                    finally
                    {
                        CommitProcessed(consumer);
                        consumer.Close(); // leaves the group: its partitions move at once
                    }
                }
                finally
                {
                    lock (_deadLetterGate)
                    {
                        // Before the producer goes, whatever closing threw: a checkpoint after this cannot wait for
                        // it, and hears whether anything was left.
                        _deadLettersLostAtStop = !deadLetters.TryDeliver(_options.DeadLetterDeliveryTimeout);
                        _deadLetters = null;
                    }
                }
            }

            _signals.Writer.TryComplete();
            _completion.TrySetResult();
        }
        catch (Exception e)
        {
            var failure = e as KafkaSourceException ?? new KafkaSourceException($"kafka source stopped: {e.Message}", e);
            _signals.Writer.TryComplete(failure);
            _completion.TrySetException(failure);
        }
    }

    private void Poll(IConsumer<byte[], byte[]> consumer, RedeliveringProducer deadLetters)
    {
        var native = new NativeConsumer(consumer);
        var backoff = TimeSpan.FromMilliseconds(100);
        var lastCommit = DateTime.UtcNow;
        var lastCaughtUpCheck = DateTime.MinValue;
        var paused = false;
        while (!_stop.IsCancellationRequested)
        {
            if (_fatal is { } fatal)
            {
                throw new KafkaSourceException($"kafka source stopped on a fatal client error: {fatal}");
            }

            if (!paused && _overflow.Count > 0)
            {
                // A rebalance callback kept a partition change: hold everything behind it.
                consumer.Pause(consumer.Assignment);
                paused = _paused = true;
                Interlocked.Increment(ref _pauses);
                _lagAskedAt = DateTime.UtcNow;
            }

            if (paused)
            {
                // Paused, the loop still polls (an empty poll: the group keeps the member, it is not evicted after
                // max.poll.interval.ms however long the pipeline is stuck) and hands over what waits as room comes.
                DrainOverflow();
                if (_overflow.Count == 0 && _signals.Reader.Count <= _options.MaxBufferedBatches / 2)
                {
                    consumer.Resume(consumer.Assignment);
                    paused = _paused = false;
                }
                else
                {
                    consumer.Pause(consumer.Assignment); // partitions assigned meanwhile start paused too
                    _paused = true;
                    if (DateTime.UtcNow - _lagAskedAt > _options.StatisticsInterval)
                    {
                        ReadLagWhilePaused(consumer);
                        _lagAskedAt = DateTime.UtcNow;
                    }
                }
            }

            try
            {
                if (Next(native, _options.PollTimeout) is { } first)
                {
                    Take(consumer, native, first, deadLetters);
                    paused = Publish(consumer, paused);
                }
                else if (!paused && DateTime.UtcNow - lastCaughtUpCheck > TimeSpan.FromMilliseconds(200))
                {
                    _caughtUp = CheckCaughtUp(consumer);
                    lastCaughtUpCheck = DateTime.UtcNow;
                }

                backoff = TimeSpan.FromMilliseconds(100);
            }
            catch (ConsumeException e) when (!e.Error.IsFatal)
            {
                Interlocked.Increment(ref _transientErrors);
                _log($"kafka source: {e.Error.Reason}; retrying in {backoff.TotalMilliseconds:F0} ms");
                _stop.Token.WaitHandle.WaitOne(backoff);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (ConsumeException e)
            {
                throw new KafkaSourceException($"kafka source stopped on a fatal error: {e.Error.Reason}", e);
            }

            if (DateTime.UtcNow - lastCommit > TimeSpan.FromSeconds(5))
            {
                CommitProcessed(consumer);
                lastCommit = DateTime.UtcNow;
            }
        }
    }

    /// <summary>
    /// Takes the first message and whatever else is ready (up to the poll limit), decoding each where librdkafka holds
    /// it (<see cref="NativeConsumer"/>); ends of partitions are noted, an error stops the poll (as Confluent's
    /// <c>Consume</c> throws it).
    /// </summary>
    private void Take(IConsumer<byte[], byte[]> consumer, NativeConsumer native, NativeConsumer.Polled first, RedeliveringProducer deadLetters)
    {
        var taken = 0;
        var decoded = 0;
        var traced = EngineTelemetry.Activities.HasListeners();
        try
        {
            for (NativeConsumer.Polled? next = first; next is { } message; next = taken < _options.MaxPollMessages ? Next(native, TimeSpan.Zero) : null)
            {
                try
                {
                    if (message.IsPartitionEof)
                    {
                        NoteEndReached(consumer, message.Partition, message.Offset);
                        continue;
                    }

                    if (message.Error != ErrorCode.NoError)
                    {
                        throw new ConsumeException(
                            new ConsumeResult<byte[], byte[]> { TopicPartitionOffset = new TopicPartitionOffset(_options.Topic, message.Partition, message.Offset) },
                            new Error(message.Error, message.ErrorText, message.Error == ErrorCode.Local_Fatal));
                    }

                    taken++;
                    _caughtUp = false;
                    var partition = message.Partition;
                    _endsReached.Remove(partition);
                    if (traced)
                    {
                        RememberTraceContext(message);
                    }

                    var known = _progress.TryGetValue(partition, out var sofar);
                    var expected = known ? sofar.Item1 : _nextToRead.GetValueOrDefault(partition, -1);
                    if (expected >= 0 && message.Offset > expected)
                    {
                        NoteGap(consumer, new TopicPartition(_options.Topic, partition), expected, message.Offset);
                    }

                    var deadLettered = known ? sofar.Item2 : 0;
                    if (_format.TryDecode(message.Value, message.Offset, out var value, out var error))
                    {
                        if (!_byPartition.TryGetValue(partition, out var events))
                        {
                            _byPartition[partition] = events = new PolledEvents<TEvent>();
                        }

                        events.Add(value);
                        decoded++;
                    }
                    else
                    {
                        DeadLetter(deadLetters, message, error);
                        deadLettered++;
                    }

                    _progress[partition] = (message.Offset + 1, deadLettered);
                }
                finally
                {
                    message.Destroy();
                }
            }
        }
        finally
        {
            // Counted once per poll, not per message: other threads read them, the loop should not pay for it each time.
            // Dead letters are not waited for here (that wait was a quarter of the source's time at 0.1% malformed
            // messages): the checkpoint that covers them waits (DeliverDeadLetters).
            Interlocked.Add(ref _messagesIn, taken);
            Interlocked.Add(ref _decoded, decoded);
        }
    }

    /// <summary>
    /// Waits until every dead-letter record produced so far is acknowledged; those whose delivery failed are produced
    /// again with backoff. Called by the checkpoint before it stores offsets that cover them: past
    /// <paramref name="timeout"/> it throws and the checkpoint is not stored (the next one tries again).
    /// </summary>
    public void DeliverDeadLetters(TimeSpan timeout)
    {
        lock (_deadLetterGate)
        {
            if (_deadLetters is not { } deadLetters)
            {
                if (_deadLettersLostAtStop)
                {
                    throw new SideOutputDeliveryException($"the source stopped before its dead-letter records to {_options.DeadLetterTopic} were delivered");
                }

                return; // not started (nothing read), or stopped with everything delivered
            }

            var delivered = deadLetters.TryDeliver(timeout, () =>
            {
                Interlocked.Increment(ref _transientErrors);
                _log($"kafka source: dead-letter records to {_options.DeadLetterTopic} were not delivered ({deadLetters.LastError}); producing them again");
            }, _stop.Token);
            if (!delivered)
            {
                throw new SideOutputDeliveryException(
                    $"dead-letter records could not be delivered to {_options.DeadLetterTopic} within {timeout.TotalSeconds:F0} s ({deadLetters.LastError})");
            }
        }
    }

    /// <summary>
    /// The next message, unless a consumer callback (a rebalance's, the statistics') threw: Confluent's <c>Consume</c>
    /// threw that again to its caller; polling natively, the source stops with it here.
    /// </summary>
    private NativeConsumer.Polled? Next(NativeConsumer native, TimeSpan timeout)
    {
        var message = native.Poll(timeout);
        if (_callbackFailure is { SourceException: var failure })
        {
            message?.Destroy();
            throw new KafkaSourceException($"kafka source stopped: a consumer callback failed: {failure.Message}", failure);
        }

        return message;
    }

    /// <summary>Runs a consumer callback; one that throws is remembered (the poll loop stops with it) and thrown on to Confluent, which releases a failed assignment.</summary>
    private T Guarded<T>(Func<T> callback)
    {
        try
        {
            return callback();
        }
        catch (Exception e)
        {
            _callbackFailure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            throw;
        }
    }

    private void Guarded(Action callback) => Guarded(() =>
    {
        callback();
        return 0;
    });

    /// <summary>The consumer reached the end of a partition it holds: the pipeline hears of it after the partition's events of this poll.</summary>
    private void NoteEndReached(IConsumer<byte[], byte[]> consumer, int partition, long end)
    {
        if (_generations.ContainsKey(partition))
        {
            // Retention may have emptied the rest of the partition: the end then lies beyond what was expected.
            var expected = _progress.TryGetValue(partition, out var sofar) ? sofar.Item1 : _nextToRead.GetValueOrDefault(partition, -1);
            if (expected >= 0 && end > expected)
            {
                NoteGap(consumer, new TopicPartition(_options.Topic, partition), expected, end);
            }

            _endsReached.Add(partition);
            _nextToRead[partition] = end;
        }
    }

    private void RememberTraceContext(in NativeConsumer.Polled message)
    {
        if (_incomingTraces.Count >= MaxTraceLinks || !message.TryGetLastHeader("traceparent", out var parent))
        {
            return;
        }

        var state = message.TryGetLastHeader("tracestate", out var stateBytes) ? Encoding.ASCII.GetString(stateBytes) : null;
        if (ActivityContext.TryParse(Encoding.ASCII.GetString(parent), state, isRemote: true, out var context))
        {
            _incomingTraces.Enqueue(context);
        }
    }

    /// <summary>Hands the polled batches over; pauses the partitions while the pipeline has no room. Returns whether paused.</summary>
    private bool Publish(IConsumer<byte[], byte[]> consumer, bool paused)
    {
        foreach (var (partition, (nextOffset, deadLettered)) in _progress)
        {
            var events = _byPartition.TryGetValue(partition, out var polled) ? polled.Take() : ReadOnlyMemory<TEvent>.Empty;
            _nextToRead[partition] = nextOffset;
            var generation = _generations[partition];
            paused = Hand(consumer, paused, new EventsPolled<TEvent>(new EventBatch<TEvent>(partition, events, nextOffset, EventBatchKind.Events, generation), deadLettered));
        }

        _progress.Clear();
        foreach (var partition in _endsReached)
        {
            paused = Hand(consumer, paused, new EventsPolled<TEvent>(EventBatch.EndReached<TEvent>(partition, _nextToRead[partition], _generations[partition]), 0));
        }

        _endsReached.Clear();
        return paused;
    }

    /// <summary>
    /// Hands a polled signal to the pipeline, or, when it has no room, keeps it (in order) and pauses the partitions:
    /// the poll thread never blocks on the pipeline, so it keeps polling and stays in the group.
    /// </summary>
    private bool Hand(IConsumer<byte[], byte[]> consumer, bool paused, SourceSignal signal)
    {
        if (_overflow.Count == 0 && _signals.Writer.TryWrite(signal))
        {
            return paused;
        }

        _overflow.Enqueue(signal);
        _overflowing = _overflow.Count;
        if (!paused)
        {
            consumer.Pause(consumer.Assignment);
            paused = _paused = true;
            Interlocked.Increment(ref _pauses);
            _lagAskedAt = DateTime.UtcNow;
        }

        return paused;
    }

    /// <summary>
    /// The partition's offsets jumped from <paramref name="expected"/> to <paramref name="next"/>. Transaction markers
    /// and compaction leave such gaps harmlessly; but when the log now starts beyond the expected offset (the low
    /// watermark the fetches bring, no round trip), retention deleted those messages before they were read and the
    /// client reset to the earliest offset. Nobody can read them any more: said loudly, and counted.
    /// </summary>
    private void NoteGap(IConsumer<byte[], byte[]> consumer, TopicPartition partition, long expected, long next)
    {
        var low = consumer.GetWatermarkOffsets(partition).Low;
        if (low == Offset.Unset || low.Value <= expected)
        {
            return;
        }

        // Below the log's start is what retention deleted; between it and the next message, markers or compaction.
        var deleted = Math.Min(next, low.Value) - expected;
        Interlocked.Add(ref _lostToRetention, deleted);
        (Warn ?? _log)($"kafka source: partition {partition.Partition.Value} of {partition.Topic}: offsets {expected}..{expected + deleted - 1} were deleted before they were read " +
                       $"(retention shorter than the lag); {deleted:N0} messages are lost, reading goes on from offset {next}");
    }

    /// <summary>Moves kept signals into the channel while it has room.</summary>
    private void DrainOverflow()
    {
        while (_overflow.TryPeek(out var next) && _signals.Writer.TryWrite(next))
        {
            _overflow.Dequeue();
        }

        _overflowing = _overflow.Count;
    }

    /// <summary>Every assigned partition read up to its high watermark (a partition never read: empty).</summary>
    private bool CheckCaughtUp(IConsumer<byte[], byte[]> consumer)
    {
        var assignment = consumer.Assignment;
        if (assignment.Count == 0)
        {
            return false;
        }

        try
        {
            foreach (var partition in assignment)
            {
                // The high watermark every fetch response brings; asked of the broker only before the first one.
                var next = _nextToRead.GetValueOrDefault(partition.Partition.Value, -1);
                var marks = consumer.GetWatermarkOffsets(partition);
                if (marks.High == Offset.Unset || (next < 0 && marks.Low == Offset.Unset))
                {
                    marks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(2));
                }

                if (next >= 0 ? next < marks.High.Value : marks.Low.Value < marks.High.Value)
                {
                    return false;
                }
            }

            return true;
        }
        catch (KafkaException)
        {
            return false; // a broker is unreachable: not known to be caught up
        }
    }

    /// <summary>
    /// Hands a partition change from a rebalance callback to the pipeline after the polled signals kept before it (the
    /// pipeline sees everything in order), or keeps it with them: a rebalance callback never blocks on a pipeline that
    /// has no room (the store is full or down), so the consumer keeps polling and stays in its group.
    /// </summary>
    private void Write(SourceSignal signal)
    {
        if (_overflow.Count == 0 && _signals.Writer.TryWrite(signal))
        {
            return;
        }

        _overflow.Enqueue(signal); // the poll loop pauses the partitions and hands it over as room comes
        _overflowing = _overflow.Count;
    }

    private void DeadLetter(RedeliveringProducer producer, in NativeConsumer.Polled message, DecodeError error)
    {
        var headers = message.CopyHeaders();
        headers.Add(DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(error.Reason));
        headers.Add(DeadLetterHeaders.Detail, Encoding.UTF8.GetBytes(error.Detail));
        headers.Add(DeadLetterHeaders.SourceTopic, Encoding.UTF8.GetBytes(_options.Topic));
        headers.Add(DeadLetterHeaders.SourcePartition, Encoding.UTF8.GetBytes(message.Partition.ToString(CultureInfo.InvariantCulture)));
        headers.Add(DeadLetterHeaders.SourceOffset, Encoding.UTF8.GetBytes(message.Offset.ToString(CultureInfo.InvariantCulture)));
        var value = message.Value;
        if (value.Length > DeadLetterHeaders.MaxValueBytes)
        {
            // Whole, it would be refused (message.max.bytes) on every try, and the source would stop on it forever.
            headers.Add(DeadLetterHeaders.TruncatedFrom, Encoding.UTF8.GetBytes(value.Length.ToString(CultureInfo.InvariantCulture)));
            value = value[..DeadLetterHeaders.MaxValueBytes];
        }

        producer.Produce(new Message<byte[], byte[]> { Key = message.HasKey ? message.Key.ToArray() : null!, Value = value.ToArray(), Headers = headers });
        Interlocked.Increment(ref _deadLettered);
    }

    private IConsumer<byte[], byte[]> BuildConsumer()
    {
        var config = new ConsumerConfig(_options.ClientSettings.ToDictionary(s => s.Key, s => s.Value))
        {
            BootstrapServers = _options.BootstrapServers,
            GroupId = _options.GroupId,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            // Also where a position deleted by retention resets to (reported: NoteGap).
            AutoOffsetReset = AutoOffsetReset.Earliest,
            // The client's own word that a partition is read to its end: the only thing that may make it idle.
            EnablePartitionEof = true,
            StatisticsIntervalMs = (int)_options.StatisticsInterval.TotalMilliseconds,
            MaxPollIntervalMs = (int)_options.MaxPollInterval.TotalMilliseconds,
        };
        config.Set("group.protocol", "consumer");
        // librdkafka's default of 1000 ms caps every consumer on the embedded cluster at 120-140k msg/s (DESIGN.md).
        config.Set("fetch.queue.backoff.ms", "100");
        return new ConsumerBuilder<byte[], byte[]>(config)
            .SetPartitionsAssignedHandler((c, partitions) => Guarded(() => OnAssigned(c, partitions).ToList()))
            .SetPartitionsRevokedHandler((_, partitions) => Guarded(() => OnRevoked(partitions.Select(p => p.Partition.Value).ToList(), lost: false)))
            .SetPartitionsLostHandler((_, partitions) => Guarded(() => OnRevoked(partitions.Select(p => p.Partition.Value).ToList(), lost: true)))
            .SetStatisticsHandler((_, json) => Guarded(() => ReadLag(json)))
            .SetErrorHandler((_, error) =>
            {
                if (error.IsFatal)
                {
                    _fatal = error.Reason;
                }
                else
                {
                    _log($"kafka source: {error.Reason}");
                }
            })
            .Build();
    }

    private ProducerConfig ProducerConfig() => new(_options.ClientSettings.ToDictionary(s => s.Key, s => s.Value))
    {
        BootstrapServers = _options.BootstrapServers,
        ClientId = $"streamengine-dlq-{_options.GroupId}",
        Acks = Acks.All,
        EnableIdempotence = true,
        LingerMs = 5,
    };

    private IEnumerable<TopicPartitionOffset> OnAssigned(IConsumer<byte[], byte[]> consumer, List<TopicPartition> partitions)
    {
        var claimed = _positions.Claim(_options.Topic, [.. partitions.Select(p => p.Partition.Value)]);
        var starts = partitions.ToDictionary(p => p.Partition.Value, p => claimed[p.Partition.Value]);
        _log($"kafka source: assigned partitions {string.Join(", ", starts.OrderBy(s => s.Key).Select(s => $"{s.Key}@{(s.Value.Offset >= 0 ? s.Value.Offset : "beginning")} (generation {s.Value.Generation})"))}");
        foreach (var (partition, start) in starts)
        {
            _lost.TryRemove(partition, out _);
            _nextToRead[partition] = start.Offset;
            _generations[partition] = start.Generation;
            _assigned[partition] = 0;
        }

        _caughtUp = false;
        Write(new PartitionsAssigned(starts));
        return partitions.Select(p => new TopicPartitionOffset(p, starts[p.Partition.Value].Offset is var start and >= 0 ? new Offset(start) : Offset.Beginning));
    }

    private void OnRevoked(List<int> partitions, bool lost)
    {
        _log($"kafka source: partitions {string.Join(',', partitions.Order())} {(lost ? "lost" : "revoked")}");
        // Served inside a poll, possibly in the middle of taking a poll's messages: what was taken of these
        // partitions and not yet handed on must not follow the revocation (it would turn into state nobody restored).
        foreach (var partition in partitions)
        {
            _byPartition.Remove(partition);
            _progress.Remove(partition);
            _endsReached.Remove(partition);
        }

        var signal = new PartitionsRevoked(partitions.Where(_generations.ContainsKey).ToDictionary(p => p, p => _generations[p]), lost);
        if (lost)
        {
            foreach (var (partition, generation) in signal.Generations)
            {
                _lost[partition] = generation;
            }
        }

        Write(signal);
        // Waits for the pipeline's final checkpoint of the partitions, handing kept signals over as it makes room; when
        // this source itself is stopping nobody reads the channel any more: no wait.
        var waiting = Stopwatch.StartNew();
        while (!lost && !_stop.IsCancellationRequested && !signal.Flushed.Task.Wait(TimeSpan.FromMilliseconds(50)))
        {
            DrainOverflow();
            if (waiting.Elapsed >= _options.RevocationFlushTimeout)
            {
                _log($"kafka source: the pipeline did not flush partitions {string.Join(',', partitions)} within {_options.RevocationFlushTimeout}; letting them go (the next owner replays from the stored offsets)");
                break;
            }
        }

        foreach (var partition in partitions)
        {
            _lag.TryRemove(partition, out _);
            _assigned.TryRemove(partition, out _);
            _nextToRead.Remove(partition);
            _generations.Remove(partition);
        }
    }

    private void CommitProcessed(IConsumer<byte[], byte[]> consumer)
    {
        var assigned = consumer.Assignment.Select(p => p.Partition.Value).ToHashSet();
        var offsets = _processed.Where(p => assigned.Contains(p.Key)).Select(p => new TopicPartitionOffset(_options.Topic, p.Key, p.Value)).ToList();
        if (offsets.Count == 0)
        {
            return;
        }

        try
        {
            consumer.Commit(offsets); // for lag monitoring only: positions come from the sink
        }
        catch (KafkaException e)
        {
            _log($"kafka source: committing offsets for lag monitoring failed: {e.Error.Reason}");
        }
    }

    /// <summary>
    /// A paused partition is not fetched, so the statistics' high watermark stands still while producers go on: the
    /// lag a held-back source reports is asked of the brokers instead (what was produced minus what was read).
    /// </summary>
    private void ReadLagWhilePaused(IConsumer<byte[], byte[]> consumer)
    {
        var budget = Stopwatch.StartNew();
        foreach (var partition in consumer.Assignment)
        {
            if (budget.Elapsed > TimeSpan.FromSeconds(2))
            {
                break; // the poll thread has other work: the rest next round
            }

            try
            {
                var marks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(1));
                var next = _nextToRead.GetValueOrDefault(partition.Partition.Value, -1);
                _lag[partition.Partition.Value] = Math.Max(0, marks.High.Value - (next >= 0 ? next : marks.Low.Value));
            }
            catch (KafkaException)
            {
                // A broker is unreachable: the last figure stands.
            }
        }
    }

    private void ReadLag(string statistics)
    {
        using var json = JsonDocument.Parse(statistics);
        if (!json.RootElement.TryGetProperty("topics", out var topics) || !topics.TryGetProperty(_options.Topic, out var topic))
        {
            return;
        }

        NotePartitionCount(topic.GetProperty("partitions").EnumerateObject().Count(p => p.Name != "-1"));
        foreach (var partition in topic.GetProperty("partitions").EnumerateObject())
        {
            if (!int.TryParse(partition.Name, NumberStyles.Integer, CultureInfo.InvariantCulture, out var id) || id < 0 || !_lag.ContainsKey(id) && !IsAssigned(partition.Value))
            {
                continue;
            }

            // Messages not yet read by this consumer (high watermark minus its position); before the first read,
            // Kafka's committed-offset lag, or the whole partition.
            var value = partition.Value;
            var high = Long(value, "hi_offset");
            var position = Long(value, "app_offset");
            var lag = high >= 0 && position >= 0 ? high - position : Long(value, "consumer_lag");
            if (lag < 0 && high >= 0)
            {
                lag = high - Math.Max(0, Long(value, "lo_offset"));
            }

            if (lag >= 0 && !_paused)
            {
                _lag[id] = lag;
            }
        }
    }

    /// <summary>
    /// Per-partition dedup relies on a duplicate landing in its original's partition: a new partition count moves keys
    /// between partitions, so duplicates that straddle the change are counted twice. Said loudly, and counted.
    /// </summary>
    private void NotePartitionCount(int count)
    {
        // Kafka never shrinks a topic: a lower count is a metadata refresh that briefly lost the topic, not a change.
        if (count <= 0 || count <= _partitionCount)
        {
            return;
        }

        if (_partitionCount > 0)
        {
            Interlocked.Increment(ref _partitionCountChanges);
            _log($"kafka source: topic {_options.Topic} now has {count} partitions (it had {_partitionCount}): keys map to other partitions from here on, " +
                 "so a duplicate of an event read before the change can be counted again (see docs/exactly-once.md, Limits)");
        }

        _partitionCount = count;
    }

    private static bool IsAssigned(JsonElement partition) =>
        partition.TryGetProperty("fetch_state", out var state) && state.GetString() is { } text && text != "none" && text != "stopped";

    private static long Long(JsonElement element, string name) => element.TryGetProperty(name, out var value) && value.TryGetInt64(out var number) ? number : -1;
}

/// <summary>
/// One partition's events of a poll, handed on without a copy: a buffer mostly filled goes with the batch (a new one
/// takes its place), one mostly empty is copied out at its size and kept, so a batch never pins much slack.
/// </summary>
internal sealed class PolledEvents<TEvent>
{
    private TEvent[] _buffer = new TEvent[256];
    private int _count;

    public void Add(in TEvent value)
    {
        if (_count == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        _buffer[_count++] = value;
    }

    /// <summary>The events added since the last call; the buffer starts empty again.</summary>
    public ReadOnlyMemory<TEvent> Take()
    {
        var count = _count;
        _count = 0;
        if (count == 0)
        {
            return ReadOnlyMemory<TEvent>.Empty;
        }

        if (count < _buffer.Length / 2)
        {
            return _buffer.AsSpan(0, count).ToArray();
        }

        var full = _buffer;
        _buffer = new TEvent[full.Length];
        return full.AsMemory(0, count);
    }
}

/// <summary>The source stopped; the message says why, in one line.</summary>
public sealed class KafkaSourceException : Exception
{
    public KafkaSourceException()
    {
    }

    public KafkaSourceException(string message)
        : base(message)
    {
    }

    public KafkaSourceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
