using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;

namespace StreamEngine.Host.Live;

/// <summary>How patient the hub is with a slow client.</summary>
public sealed record HubFanoutOptions
{
    /// <summary>A send to one client that takes longer disconnects it.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Values waiting for one client (after conflation) beyond which it is disconnected.</summary>
    public int MaxPending { get; init; } = 10_000;

    /// <summary>The clock the send timeout runs on (tests give a fake one).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>Running totals of the hub's delivery, for metrics.</summary>
public readonly record struct FanoutCounters(long Sent, long Superseded, long Dropped, long Disconnected);

/// <summary>
/// Delivers live values to SignalR connections. Each connection has a mailbox that keeps only the newest value per
/// subject, window and partition (conflation; partials of different partitions are all delivered) and a sender of its own; <see cref="Offer"/> only writes into the mailboxes of the
/// connections subscribed to the value's campaign or slot, so it never waits. A connection whose sends take longer
/// than <see cref="HubFanoutOptions.SendTimeout"/>, or whose mailbox holds more than <see cref="HubFanoutOptions.MaxPending"/>
/// values, is disconnected (the client reconnects and resubscribes); everyone else keeps getting values on time.
/// </summary>
public sealed class HubFanout(IHubContext<MetricsHub> hub, HubFanoutOptions? options = null) : ILiveSink
{
    private readonly HubFanoutOptions _options = options ?? new HubFanoutOptions();

    private readonly ConcurrentDictionary<string, Mailbox> _connections = new();
    private readonly ConcurrentDictionary<(LiveKey Key, int Partition), (long Window, long Volume)> _seen = new();
    // Per key, subject and partition: a new subscriber gets every partition's newest partial, not just one of them.
    private readonly ConcurrentDictionary<(LiveKey Key, string Subject, int Partition), LiveUpdate> _last = new();
    private readonly ConcurrentDictionary<LiveKey, ConcurrentDictionary<string, Mailbox>> _subscribers = new();
    private long _sent;
    private long _superseded;
    private long _dropped;
    private long _disconnected;

    public FanoutCounters Counters => new(Interlocked.Read(ref _sent), Interlocked.Read(ref _superseded), Interlocked.Read(ref _dropped), Interlocked.Read(ref _disconnected));

    public int Connections => _connections.Count;

    public void Connect(HubCallerContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _connections[context.ConnectionId] = new Mailbox(this, context);
    }

    public void Disconnect(string connectionId)
    {
        if (_connections.TryRemove(connectionId, out var mailbox))
        {
            mailbox.Close();
            foreach (var subscribers in _subscribers.Values)
            {
                subscribers.TryRemove(connectionId, out _);
            }
        }
    }

    /// <summary>Adds the connection to the key's subscribers and sends it the newest value of each of the key's subjects (per partition) at once.</summary>
    public void Subscribe(HubCallerContext context, LiveKey key)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_connections.TryGetValue(context.ConnectionId, out var mailbox))
        {
            _subscribers.GetOrAdd(key, _ => new ConcurrentDictionary<string, Mailbox>())[context.ConnectionId] = mailbox;
            foreach (var last in _last.Where(l => l.Key.Key == key).Select(l => l.Value))
            {
                mailbox.Post((last.Subject, last.Key, last.WindowStartMs, last.Partition), new LiveMessage(last.Subject, Payload(last.Json, last.CorrelationId)));
            }
        }
    }

    public void Unsubscribe(string connectionId, LiveKey key)
    {
        if (_subscribers.TryGetValue(key, out var subscribers))
        {
            subscribers.TryRemove(connectionId, out _);
        }
    }

    /// <summary>
    /// The busiest campaigns (impressions) and slots (bids) of the newest minute seen, for a dashboard's pickers: each
    /// key's partials of its newest minute added up over the partitions this process holds.
    /// </summary>
    public (IReadOnlyList<(string Id, long Impressions)> Campaigns, IReadOnlyList<(string Id, long Bids)> Slots) Catalog(int top)
    {
        var seen = _seen.ToArray()
            .GroupBy(s => s.Key.Key)
            .Select(g =>
            {
                var newest = g.Max(s => s.Value.Window);
                return (Key: g.Key, Value: (Window: newest, Volume: g.Where(s => s.Value.Window == newest).Sum(s => s.Value.Volume)));
            })
            .ToList();
        IReadOnlyList<(string, long)> Top(string audience)
        {
            var ofKind = seen.Where(s => s.Key.Audience == audience).ToList();
            var newest = ofKind.Count == 0 ? 0 : ofKind.Max(s => s.Value.Window);
            return [.. ofKind.OrderByDescending(s => s.Value.Window >= newest - 60_000 ? s.Value.Volume : -1).ThenBy(s => s.Key.Id, StringComparer.Ordinal)
                .Take(top).Select(s => (s.Key.Id, s.Value.Volume))];
        }

        return (Top(AdLiveTopics.Campaign), Top(AdLiveTopics.Slot));
    }

    public void Offer(LiveUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        var key = update.Audience;
        var subject = update.Subject;
        // Static merges with the update as their argument: every live value passes here, and a capturing lambda was an allocation each.
        if (update.Topic.Catalogued)
        {
            _seen.AddOrUpdate((key, update.Partition), static (_, u) => (u.WindowStartMs, u.Volume),
                static (_, old, u) => u.WindowStartMs >= old.Window ? (u.WindowStartMs, u.Volume) : old, update);
        }

        _last.AddOrUpdate((key, subject, update.Partition), static (_, u) => u, static (_, old, u) => u.WindowStartMs >= old.WindowStartMs ? u : old, update);
        if (!_subscribers.TryGetValue(key, out var subscribers) || subscribers.IsEmpty)
        {
            return;
        }

        var message = new LiveMessage(subject, Payload(update.Json, update.CorrelationId));
        foreach (var mailbox in subscribers.Values)
        {
            mailbox.Post((subject, update.Key, update.WindowStartMs, update.Partition), message);
        }
    }

    /// <summary>Alerts go to every connection (ad-ops want them whatever they watch).</summary>
    public void Alert(string subject, string key, byte[] json)
    {
        var message = new LiveMessage(subject, Payload(json), IsAlert: true);
        foreach (var mailbox in _connections.Values)
        {
            mailbox.Post((subject, Guid.NewGuid().ToString("N"), 0, -1), message);
        }
    }

    /// <summary>
    /// The JSON as name/value pairs, which both hub protocols (JSON, MessagePack) carry as an object, with the batch's
    /// <c>correlation_id</c> when there is one.
    /// </summary>
    private static Dictionary<string, object?> Payload(byte[] json, string? correlationId = null)
    {
        var payload = Fields(json);
        if (correlationId is not null)
        {
            payload["correlation_id"] = correlationId;
        }

        return payload;
    }

    private static Dictionary<string, object?> Fields(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)(p.Value.ValueKind switch
        {
            JsonValueKind.String => p.Value.GetString(),
            // Boxed apart: one conditional of long and double would make every whole number a double (1234.0 on MessagePack).
            JsonValueKind.Number => p.Value.TryGetInt64(out var whole) ? (object)whole : p.Value.GetDouble(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => null,
        }));
    }

    private sealed record LiveMessage(string Subject, Dictionary<string, object?> Payload, bool IsAlert = false);

    /// <summary>One connection's conflated values and the loop that sends them, one at a time.</summary>
    private sealed class Mailbox : IDisposable
    {
        private readonly HubFanout _owner;
        private readonly HubCallerContext _context;
        // By subject, key, window and partition: ids that share a subject (unsafe characters become '_') do not conflate
        // each other, nor do two partitions' partials of one window.
        private readonly ConcurrentDictionary<(string Subject, string Key, long Window, int Partition), LiveMessage> _pending = new();
        private readonly SemaphoreSlim _signal = new(0);
        private readonly CancellationTokenSource _closed = new();
        private readonly Task _loop;

        public Mailbox(HubFanout owner, HubCallerContext context)
        {
            _owner = owner;
            _context = context;
            _loop = Task.Run(SendLoopAsync);
        }

        public void Post((string Subject, string Key, long Window, int Partition) key, LiveMessage message)
        {
            if (_closed.IsCancellationRequested)
            {
                return;
            }

            // Whether this replaced a value still waiting (then the sender is awake for it already) or added one (wake it).
            // Set in both factories: AddOrUpdate retries when the sender takes the old value meanwhile, and the add that
            // follows must wake the sender (a flag set only on update left such a value unsent until the next post).
            var replaced = false;
            _pending.AddOrUpdate(key, _ =>
            {
                replaced = false;
                return message;
            }, (_, _) =>
            {
                replaced = true;
                return message;
            });
            if (replaced)
            {
                Interlocked.Increment(ref _owner._superseded);
                return;
            }

            if (_pending.Count > _owner._options.MaxPending)
            {
                Drop();
                return;
            }

            try
            {
                _signal.Release();
            }
            catch (ObjectDisposedException)
            {
                // closed meanwhile: nothing to wake
            }
        }

        /// <summary>Stops the sender; the mailbox is disposed once it has stopped.</summary>
        public void Close()
        {
            _closed.Cancel();
            _loop.ContinueWith(_ => Dispose(), TaskScheduler.Default);
        }

        public void Dispose()
        {
            _signal.Dispose();
            _closed.Dispose();
        }

        /// <summary>The client is too slow: what waits for it is dropped and counted, and it is disconnected.</summary>
        private void Drop()
        {
            Interlocked.Add(ref _owner._dropped, _pending.Count);
            Interlocked.Increment(ref _owner._disconnected);
            _pending.Clear();
            _context.Abort(); // the client sees the connection close, reconnects and resubscribes
            _closed.Cancel();
        }

        private async Task SendLoopAsync()
        {
            try
            {
                while (!_closed.IsCancellationRequested)
                {
                    await _signal.WaitAsync(_closed.Token);
                    foreach (var key in _pending.Keys.OrderBy(k => k.Window))
                    {
                        if (!_pending.TryRemove(key, out var message))
                        {
                            continue;
                        }

                        using var expiry = new CancellationTokenSource(_owner._options.SendTimeout, _owner._options.Time);
                        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token, expiry.Token);
                        try
                        {
                            await _owner._hub.Clients.Client(_context.ConnectionId)
                                .SendAsync(message.IsAlert ? "alert" : "metrics", message.Payload, timeout.Token);
                            Interlocked.Increment(ref _owner._sent);
                        }
                        catch (OperationCanceledException) when (!_closed.IsCancellationRequested)
                        {
                            Drop();
                            return;
                        }
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                // closed
            }
        }
    }

    private readonly IHubContext<MetricsHub> _hub = hub;
}
