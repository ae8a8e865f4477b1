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
    private readonly ConcurrentQueue<(string Subject, byte[] Payload)> _events = new();
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
        _loop = Task.Run(RunAsync);
    }

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
        var replaced = false;
        _latest.AddOrUpdate(slot, _ =>
        {
            replaced = false; // a retry after the sender took the old value adds: not a replacement
            return (payload, correlationId);
        }, (_, _) =>
        {
            replaced = true;
            return (payload, correlationId);
        });
        if (replaced)
        {
            Interlocked.Increment(ref _superseded);
        }

        Wake();
    }

    /// <summary>An event that goes out once, in order (dropping the oldest when too many wait).</summary>
    public void Enqueue(string subject, byte[] payload)
    {
        _events.Enqueue((subject, payload));
        while (_events.Count > _options.MaxQueuedEvents && _events.TryDequeue(out _))
        {
            Interlocked.Increment(ref _droppedEvents);
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
            await FlushAsync().WaitAsync(TimeSpan.FromSeconds(2));
            // A round trip: everything written before it has reached the server before the connection closes.
            await _connection.PingAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2));
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
            await _connection.ConnectAsync();
        }

        if (_options.JetStream && !_streamReady)
        {
            // Only fields nats-server 2.9 knows: newer ones it would silently ignore.
            await new NatsJSContext(_connection).CreateOrUpdateStreamAsync(
                new StreamConfig(_options.StreamName, ["adtrack.>"])
                {
                    MaxAge = _options.HistoryMaxAge,
                    Storage = StreamConfigStorage.File,
                    Discard = StreamConfigDiscard.Old,
                },
                cancellationToken);
            _streamReady = true;
        }

        while (_events.TryPeek(out var next))
        {
            await _connection.PublishAsync(next.Subject, next.Payload, cancellationToken: cancellationToken);
            _events.TryDequeue(out _);
            Interlocked.Increment(ref _published);
        }

        // Oldest window first, so a subscriber sees a subject's windows in order.
        foreach (var key in _latest.Keys.OrderBy(k => k.Window))
        {
            if (_latest.TryRemove(key, out var payload))
            {
                try
                {
                    var headers = payload.CorrelationId is null ? null : new NatsHeaders { [CorrelationHeader] = payload.CorrelationId };
                    await _connection.PublishAsync(key.Subject, payload.Payload, headers, cancellationToken: cancellationToken);
                    Interlocked.Increment(ref _published);
                }
                catch
                {
                    _latest.TryAdd(key, payload); // not sent: keep it unless a newer one came meanwhile
                    throw;
                }
            }
        }
    }
}
