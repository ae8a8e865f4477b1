using System.Collections.Concurrent;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using StreamEngine.Core.Dsl;

namespace StreamEngine.Nats;

/// <summary>Running totals of a publisher, for metrics.</summary>
public readonly record struct LivePublisherCounters(long Published, long Superseded, long DroppedEvents, long Failures);

/// <summary>
/// Publishes live metrics to NATS without ever holding up the pipeline: <see cref="Offer"/> keeps only the newest
/// payload per subject, window and partition (conflation: a slow or absent NATS loses intermediate values, never the
/// latest, and never one partition's partial to another's), and a loop
/// sends what changed as soon as it can. <see cref="Enqueue"/> is for
/// events that must each go out (alerts), in a bounded queue. The client reconnects by itself; while it is away,
/// values keep being conflated and events queued.
/// </summary>
public sealed class LivePublisher : ILiveSink, IAsyncDisposable
{
    private readonly LivePublisherOptions _options;
    private readonly NatsConnection _connection;
    // Keyed by the value's key too: two ids can share a subject (unsafe characters become '_'), and one must not
    // conflate the other away; and by partition: partials of one window from two partitions are both needed.
    private readonly ConcurrentDictionary<(string Subject, string Key, long Window, int Partition), (byte[] Payload, string? CorrelationId)> _latest = new();
    private readonly Queue<QueuedEvent> _events = new();
    private readonly NatsJSContext _jetStream;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _published;
    private long _superseded;
    private long _droppedEvents;
    private long _failures;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private bool _streamReady;

    public LivePublisher(LivePublisherOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        var auth = NatsAuthOpts.Default with
        {
            Username = options.User,
            Password = options.Password,
            Token = options.Token,
            CredsFile = options.CredentialsFile,
        };
        _connection = new NatsConnection(NatsOpts.Default with { Url = options.Url, Name = "streamengine", AuthOpts = auth });
        _jetStream = new NatsJSContext(_connection);
        _loop = Task.Run(RunAsync);
    }

    /// <summary>An event waiting to go out; a class, so the sender knows whether the one it sent is still queued.</summary>
    private sealed record QueuedEvent(string Subject, byte[] Payload);

    public LivePublisherCounters Counters => new(Interlocked.Read(ref _published), Interlocked.Read(ref _superseded), Interlocked.Read(ref _droppedEvents), Interlocked.Read(ref _failures));

    public void Offer(LiveUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        Offer((update.Subject, update.Key, update.WindowStartMs, update.Partition), update.Json, update.CorrelationId);
    }

    public void Alert(string subject, string key, byte[] json) => Enqueue(subject, json);

    /// <summary>The newest value for <paramref name="subject"/> about <paramref name="window"/>; replaces one not yet sent.</summary>
    public void Offer(string subject, long window, byte[] payload, string? correlationId = null) => Offer((subject, subject, window, -1), payload, correlationId);

    private void Offer((string Subject, string Key, long Window, int Partition) slot, byte[] payload, string? correlationId)
    {
        // Added, or put in place of an unsent value (a replacement); no capturing lambdas: every live value passes here.
        var value = (payload, correlationId);
        while (!_latest.TryAdd(slot, value))
        {
            if (_latest.TryGetValue(slot, out var unsent) && _latest.TryUpdate(slot, value, unsent))
            {
                Interlocked.Increment(ref _superseded);
                break;
            }
        }

        Wake();
    }

    /// <summary>An event that goes out once, in order (dropping the oldest when too many wait).</summary>
    public void Enqueue(string subject, byte[] payload)
    {
        lock (_events)
        {
            _events.Enqueue(new QueuedEvent(subject, payload));
            while (_events.Count > _options.MaxQueuedEvents && _events.TryDequeue(out _))
            {
                Interlocked.Increment(ref _droppedEvents);
            }
        }

        Wake();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        // What was offered since the last round still goes out, if NATS is there to take it.
        try
        {
            await FlushAsync().WaitAsync(_options.SendTimeout + TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
        {
            Interlocked.Increment(ref _failures);
        }

        await _connection.DisposeAsync();
        _stop.Dispose();
        _wake.Dispose();
    }

    /// <summary>
    /// Sends soon after values arrive (a short pause gathers a burst into one round), and at least every
    /// <see cref="LivePublisherOptions.Interval"/> to retry what NATS did not take. While a round is under way, new
    /// values for the same subject and window replace the waiting ones: that is the conflation.
    /// </summary>
    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await FlushAsync(_stop.Token);
                await _wake.WaitAsync(_options.Interval, _stop.Token);
                await Task.Delay(Gather, _stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // NATS is away (or refused something): values stay conflated, events queued, and the loop goes on.
                Interlocked.Increment(ref _failures);
                await Task.Delay(_options.Interval, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>The NATS header with the id of the batch of results a value belongs to (see <see cref="LiveUpdate.CorrelationId"/>).</summary>
    public const string CorrelationHeader = "Correlation-Id";

    private static readonly TimeSpan Gather = TimeSpan.FromMilliseconds(20);

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
        {
            // already awake, or stopped: the value waits for the last flush or is dropped with the publisher
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_connection.ConnectionState != NatsConnectionState.Open)
        {
            // While NATS is away the client's own reconnecting makes this wait: a round that waits too long counts as failed.
            await _connection.ConnectAsync().AsTask().WaitAsync(_options.SendTimeout, cancellationToken);
        }

        if (_options.JetStream && !_streamReady)
        {
            // Only fields nats-server 2.9 knows: newer ones it would silently ignore.
            await _jetStream.CreateOrUpdateStreamAsync(
                new StreamConfig(_options.StreamName, ["adtrack.>"])
                {
                    MaxAge = _options.HistoryMaxAge,
                    Storage = StreamConfigStorage.File,
                    Discard = StreamConfigDiscard.Old,
                },
                cancellationToken);
            _streamReady = true;
        }

        // A value or event counts as published, and leaves memory, only once NATS confirmed it: a write into a
        // socket whose server has just died is buffered as happily as one that arrives, and would be lost.
        List<QueuedEvent> events;
        lock (_events)
        {
            events = [.. _events];
        }

        if (events.Count > 0)
        {
            await SendConfirmedAsync(events.Select(e => (e.Subject, e.Payload, (NatsHeaders?)null)), cancellationToken);
            lock (_events)
            {
                // The queue may have dropped its oldest meanwhile (overflow): only what is still at its head goes.
                foreach (var sent in events)
                {
                    if (_events.TryPeek(out var head) && ReferenceEquals(head, sent))
                    {
                        _events.Dequeue();
                    }
                }
            }

            Interlocked.Add(ref _published, events.Count);
        }

        // Oldest window first, so a subscriber sees a subject's windows in order.
        var round = _latest.OrderBy(v => v.Key.Window).ToList();
        if (round.Count == 0)
        {
            return;
        }

        await SendConfirmedAsync(
            round.Select(v => (v.Key.Subject, v.Value.Payload, v.Value.CorrelationId is null ? null : new NatsHeaders { [CorrelationHeader] = v.Value.CorrelationId })),
            cancellationToken);
        foreach (var sent in round)
        {
            // Removed only if no newer value replaced it while this one was on its way: the newer one goes next round.
            _latest.TryRemove(sent);
        }

        Interlocked.Add(ref _published, round.Count);
    }

    /// <summary>
    /// Sends messages in order and returns once NATS confirmed every one, or throws (then all of them are sent again
    /// next round: a duplicate of a live value or alert is harmless, a loss is not). With JetStream the confirmation is
    /// the stream's ack of each message; without, a round trip on the same connection (the server answers a ping after
    /// reading everything written before it) with no reconnect in between (bytes in the dead socket are gone).
    /// </summary>
    private async Task SendConfirmedAsync(IEnumerable<(string Subject, byte[] Payload, NatsHeaders? Headers)> messages, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.SendTimeout);
        try
        {
            if (_options.JetStream)
            {
                var acks = new List<Task<PubAckResponse>>();
                foreach (var (subject, payload, headers) in messages)
                {
                    acks.Add(_jetStream.PublishAsync(subject, payload, headers: headers, cancellationToken: timeout.Token).AsTask());
                }

                foreach (var ack in await Task.WhenAll(acks))
                {
                    ack.EnsureSuccess();
                }

                return;
            }

            var server = _connection.ServerInfo;
            foreach (var (subject, payload, headers) in messages)
            {
                await _connection.PublishAsync(subject, payload, headers, cancellationToken: timeout.Token);
            }

            await _connection.PingAsync(timeout.Token);
            if (!ReferenceEquals(server, _connection.ServerInfo) || _connection.ConnectionState != NatsConnectionState.Open)
            {
                throw new NatsException("the connection to NATS was renewed while sending: what went into the old one is not confirmed");
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"NATS did not confirm a round within {_options.SendTimeout.TotalSeconds:0.#} s");
        }
    }
}
