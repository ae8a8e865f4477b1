using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;

namespace StreamEngine.Kafka;

/// <summary>
/// Produces a side output's records (dead letters, late events) to one topic with delivery reports, and keeps every
/// record whose delivery failed, or that the client refused at once, to produce it again: none is dropped silently.
/// </summary>
internal sealed class RedeliveringProducer(IProducer<byte[], byte[]> producer, string topic)
{
    private readonly ConcurrentQueue<Message<byte[], byte[]>> _undelivered = new();
    private volatile string? _lastError;

    public IProducer<byte[], byte[]> Producer => producer;

    /// <summary>Records whose delivery failed and that wait to be produced again by <see cref="TryDeliver"/>.</summary>
    public int Undelivered => _undelivered.Count;

    /// <summary>Why the last delivery failed, for messages.</summary>
    public string LastError => _lastError ?? "not acknowledged";

    public void Produce(Message<byte[], byte[]> message)
    {
        try
        {
            KafkaClients.ProduceWithBackPressure(producer, topic, message, report =>
            {
                if (report.Error.IsError)
                {
                    _lastError = report.Error.Reason;
                    // Produced again as new: the report's copy carries the broker's timestamp type, which a produce refuses.
                    _undelivered.Enqueue(new Message<byte[], byte[]> { Key = report.Message.Key, Value = report.Message.Value, Headers = report.Message.Headers });
                }
            });
        }
        catch (ProduceException<byte[], byte[]> e)
        {
            _lastError = e.Error.Reason;
            _undelivered.Enqueue(message);
        }
    }

    /// <summary>
    /// Waits until every record produced so far is acknowledged, producing the failed ones again after a pause that
    /// grows (<paramref name="retrying"/> hears of each round). False when that did not happen within
    /// <paramref name="timeout"/>, or <paramref name="cancellation"/> ended the wait.
    /// </summary>
    public bool TryDeliver(TimeSpan timeout, Action? retrying = null, CancellationToken cancellation = default)
    {
        var started = Stopwatch.StartNew();
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            var queued = producer.Flush(Remaining());
            if (queued == 0 && _undelivered.IsEmpty)
            {
                return true;
            }

            if (started.Elapsed >= timeout || cancellation.IsCancellationRequested)
            {
                return false;
            }

            if (queued > 0)
            {
                continue;
            }

            retrying?.Invoke();
            cancellation.WaitHandle.WaitOne(backoff < Remaining() ? backoff : Remaining());
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            var count = _undelivered.Count;
            for (var i = 0; i < count && _undelivered.TryDequeue(out var message); i++)
            {
                Produce(message);
            }
        }

        TimeSpan Remaining() => timeout - started.Elapsed is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }
}
