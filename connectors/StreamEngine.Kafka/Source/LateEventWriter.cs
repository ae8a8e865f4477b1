using System.Buffers;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Kafka.Source;

/// <summary>Headers of a record on the late topic.</summary>
public static class LateEventHeaders
{
    public const string Reason = "late-reason";

    /// <summary>The watermark (epoch ms) the event was judged against.</summary>
    public const string Watermark = "late-watermark";
}

/// <summary>
/// Writes events that came later than the allowed lateness to the late topic (<c>ad-events.late</c>): the event as its
/// <see cref="IEventFormat{TEvent}"/> writes it (ad events: the v2 wire format, keyed by campaign), with the reason,
/// the watermark and where it was read (<see cref="DeadLetterHeaders"/>' source headers). At least once: flush before
/// the checkpoint that covers them; records whose delivery failed are produced again there, and a flush that cannot
/// deliver them in time throws, so the checkpoint that would cover them is not stored.
/// </summary>
public sealed class LateEventWriter<TEvent>(string bootstrapServers, string topic, string sourceTopic, IEventFormat<TEvent> format, IReadOnlyDictionary<string, string>? clientSettings = null) : ISideOutput<TEvent>
{
    private readonly RedeliveringProducer _late = new(new ProducerBuilder<byte[], byte[]>(new ProducerConfig((clientSettings ?? new Dictionary<string, string>()).ToDictionary(s => s.Key, s => s.Value))
    {
        BootstrapServers = bootstrapServers,
        ClientId = "streamengine-late",
        Acks = Acks.All,
        EnableIdempotence = true,
        LingerMs = 5,
    }).Build(), topic);

    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private long _written;

    public long Written => Interlocked.Read(ref _written);

    private long _flushed;

    public void Write(LateEvent<TEvent> late)
    {
        _buffer.ResetWrittenCount();
        var key = format.Encode(late.Event, _buffer);
        var offset = format.OffsetOf(late.Event);
        var headers = new Headers
        {
            { LateEventHeaders.Reason, Encoding.UTF8.GetBytes(late.Reason) },
            { LateEventHeaders.Watermark, Encoding.UTF8.GetBytes(late.WatermarkMs.ToString(CultureInfo.InvariantCulture)) },
            { DeadLetterHeaders.SourceTopic, Encoding.UTF8.GetBytes(sourceTopic) },
            { DeadLetterHeaders.SourcePartition, Encoding.UTF8.GetBytes(late.Partition.ToString(CultureInfo.InvariantCulture)) },
            { DeadLetterHeaders.SourceOffset, Encoding.UTF8.GetBytes(offset.ToString(CultureInfo.InvariantCulture)) },
        };
        _late.Produce(new Message<byte[], byte[]>
        {
            Key = key,
            Value = _buffer.WrittenSpan.ToArray(),
            Headers = headers,
        });
        Interlocked.Increment(ref _written);
    }

    /// <summary>Late records whose delivery failed and that wait to be produced again at the next flush.</summary>
    public int Undelivered => _late.Undelivered;

    /// <summary>
    /// Waits until every late record written so far is in Kafka, producing those whose delivery failed again; throws
    /// if that does not happen in time. Returns at once when nothing was written since the last flush (every
    /// checkpoint asks; most have no late events).
    /// </summary>
    public void Flush(TimeSpan timeout)
    {
        var written = Written;
        if (written == Interlocked.Read(ref _flushed) && _late.Undelivered == 0)
        {
            return;
        }

        if (!_late.TryDeliver(timeout))
        {
            throw new SideOutputDeliveryException($"late events could not be delivered to {topic} within {timeout.TotalSeconds:F0} s ({_late.LastError})");
        }

        Interlocked.Exchange(ref _flushed, written); // what was written before the flush began is delivered
    }

    public void Dispose()
    {
        _late.Producer.Flush(TimeSpan.FromSeconds(10));
        _late.Producer.Dispose();
    }
}
