using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;

namespace StreamEngine.Kafka;

/// <summary>
/// Produces a side output's records (dead letters, late events) to one topic with delivery reports, and keeps every
/// record whose delivery failed, or that the client refused at once, to produce it again: none is dropped silently.
/// Records may be produced on one thread while another waits for them (<see cref="TryDeliver"/>).
/// </summary>
internal sealed class RedeliveringProducer(IProducer<byte[], byte[]> producer, string topic)
{
    private readonly ConcurrentQueue<(long Sequence, Message<byte[], byte[]> Message)> _undelivered = new();
    private readonly ConcurrentDictionary<long, byte> _unacknowledged = new(); // sequence numbers produced and not yet delivered
    private long _sequence;
    private volatile string? _lastError;

    public IProducer<byte[], byte[]> Producer => producer;

    /// <summary>Records whose delivery failed and that wait to be produced again by <see cref="TryDeliver"/>.</summary>
    public int Undelivered => _undelivered.Count;

    /// <summary>Why the last delivery failed, for messages.</summary>
    public string LastError => _lastError ?? "not acknowledged";

    public void Produce(Message<byte[], byte[]> message)
    {
        var sequence = Interlocked.Increment(ref _sequence);
        _unacknowledged[sequence] = 0;
        Send(sequence, message);
    }

    /// <summary>
    /// Waits until every record produced before this call is acknowledged, producing the failed ones again after a
    /// pause that grows (<paramref name="retrying"/> hears of each round). Records produced meanwhile are not waited
    /// for: a steady stream of them cannot keep the wait from ending. False when that did not happen within
    /// <paramref name="timeout"/>, or <paramref name="cancellation"/> ended the wait.
    /// </summary>
    public bool TryDeliver(TimeSpan timeout, Action? retrying = null, CancellationToken cancellation = default)
    {
        var cut = Interlocked.Read(ref _sequence);
        var started = Stopwatch.StartNew();
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            // Serves delivery reports; returns early once the queue is empty.
            producer.Flush(Remaining() < FlushSlice ? Remaining() : FlushSlice);
            if (!WaitsFor(cut))
            {
                return true;
            }

            if (started.Elapsed >= timeout || cancellation.IsCancellationRequested)
            {
                return false;
            }

            if (!_undelivered.Any(u => u.Sequence <= cut))
            {
                continue; // still in flight
            }

            retrying?.Invoke();
            cancellation.WaitHandle.WaitOne(backoff < Remaining() ? backoff : Remaining());
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            var count = _undelivered.Count;
            for (var i = 0; i < count && _undelivered.TryDequeue(out var failed); i++)
            {
                Send(failed.Sequence, failed.Message);
            }
        }

        TimeSpan Remaining() => timeout - started.Elapsed is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>How long one round of the wait lets the client serve delivery reports.</summary>
    private static readonly TimeSpan FlushSlice = TimeSpan.FromMilliseconds(100);

    private bool WaitsFor(long cut)
    {
        foreach (var sequence in _unacknowledged.Keys)
        {
            if (sequence <= cut)
            {
                return true;
            }
        }

        return false;
    }

    private void Send(long sequence, Message<byte[], byte[]> message)
    {
        try
        {
            KafkaClients.ProduceWithBackPressure(producer, topic, message, report =>
            {
                if (report.Error.IsError)
                {
                    _lastError = report.Error.Reason;
                    // Produced again as new: the report's copy carries the broker's timestamp type, which a produce refuses.
                    _undelivered.Enqueue((sequence, new Message<byte[], byte[]> { Key = report.Message.Key, Value = report.Message.Value, Headers = report.Message.Headers }));
                }
                else
                {
                    _unacknowledged.TryRemove(sequence, out _);
                }
            });
        }
        catch (ProduceException<byte[], byte[]> e)
        {
            _lastError = e.Error.Reason;
            _undelivered.Enqueue((sequence, message));
        }
    }
}
