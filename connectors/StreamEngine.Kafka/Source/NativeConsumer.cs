using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace StreamEngine.Kafka.Source;

/// <summary>
/// Takes messages from a Confluent.Kafka consumer's own librdkafka handle, reading each one where librdkafka keeps it:
/// Confluent's <c>Consume</c> copies every message into a result, a message, a topic-partition-offset, a topic name,
/// headers and key and value arrays (about 600 bytes for a 260-byte event: half of what a catch-up allocated). The
/// consumer stays Confluent's: its group, rebalance, error and statistics callbacks run inside this poll as inside
/// its own (librdkafka serves them from the consumer queue), and positions, pauses and commits go through it.
/// </summary>
internal sealed unsafe partial class NativeConsumer
{
    private readonly IntPtr _handle;

    /// <summary>
    /// The handle of <paramref name="consumer"/>. Confluent.Kafka keeps it internal
    /// (<c>Handle.LibrdkafkaHandle</c>); the version is pinned centrally, and a test polls through this class.
    /// </summary>
    public NativeConsumer(IConsumer<byte[], byte[]> consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        var property = typeof(Handle).GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic)
                       ?? throw new InvalidOperationException($"Confluent.Kafka {typeof(Handle).Assembly.GetName().Version} has no Handle.LibrdkafkaHandle: the source reads messages through it");
        var handle = property.GetValue(consumer.Handle) as SafeHandle
                     ?? throw new InvalidOperationException("the consumer has no librdkafka handle");
        _handle = handle.DangerousGetHandle();
        Keep = handle; // the consumer owns it; this only keeps it from being collected while we poll
    }

    private SafeHandle Keep { get; }

    /// <summary>The next message or event (end of a partition, an error), or null after <paramref name="timeout"/>; the caller destroys it.</summary>
    public Polled? Poll(TimeSpan timeout)
    {
        var message = rd_kafka_consumer_poll(_handle, (int)Math.Clamp(timeout.TotalMilliseconds, 0, int.MaxValue));
        GC.KeepAlive(Keep);
        return message == IntPtr.Zero ? null : new Polled((Message*)message);
    }

    /// <summary>One message as librdkafka holds it: valid until <see cref="Destroy"/>.</summary>
    public readonly struct Polled(Message* message)
    {
        public ErrorCode Error => (ErrorCode)message->Err;

        public bool IsPartitionEof => message->Err == (int)ErrorCode.Local_PartitionEOF;

        public int Partition => message->Partition;

        public long Offset => message->Offset;

        public ReadOnlySpan<byte> Value => message->Payload == IntPtr.Zero ? [] : new ReadOnlySpan<byte>((void*)message->Payload, checked((int)message->Length));

        public ReadOnlySpan<byte> Key => message->Key == IntPtr.Zero ? [] : new ReadOnlySpan<byte>((void*)message->Key, checked((int)message->KeyLength));

        public bool HasKey => message->Key != IntPtr.Zero;

        /// <summary>The last value of header <paramref name="name"/>, if there is one.</summary>
        public bool TryGetLastHeader(string name, out ReadOnlySpan<byte> value)
        {
            value = default;
            if (rd_kafka_message_headers((IntPtr)message, out var headers) != 0 || headers == IntPtr.Zero ||
                rd_kafka_header_get_last(headers, name, out var bytes, out var size) != 0)
            {
                return false;
            }

            value = bytes == IntPtr.Zero ? [] : new ReadOnlySpan<byte>((void*)bytes, checked((int)size));
            return true;
        }

        /// <summary>Every header, copied (for a dead-letter record).</summary>
        public Headers CopyHeaders()
        {
            var copy = new Headers();
            if (rd_kafka_message_headers((IntPtr)message, out var headers) != 0 || headers == IntPtr.Zero)
            {
                return copy;
            }

            for (nuint i = 0; rd_kafka_header_get_all(headers, i, out var name, out var bytes, out var size) == 0; i++)
            {
                copy.Add(Marshal.PtrToStringUTF8(name) ?? "", bytes == IntPtr.Zero ? null : new ReadOnlySpan<byte>((void*)bytes, checked((int)size)).ToArray());
            }

            return copy;
        }

        /// <summary>librdkafka's text for the message's error (what went wrong, not only the code's name).</summary>
        public string ErrorText => Marshal.PtrToStringUTF8(rd_kafka_message_errstr((IntPtr)message)) ?? $"error {message->Err}";

        public void Destroy() => rd_kafka_message_destroy((IntPtr)message);
    }

    /// <summary><c>rd_kafka_message_t</c> (rdkafka.h), laid out as C lays it out.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Message
    {
        public int Err;
        public IntPtr Topic;
        public int Partition;
        public IntPtr Payload;
        public nuint Length;
        public IntPtr Key;
        public nuint KeyLength;
        public long Offset;
        public IntPtr Private;
    }

    [LibraryImport(Librdkafka.LibraryName)]
    private static partial IntPtr rd_kafka_consumer_poll(IntPtr rk, int timeoutMs);

    [LibraryImport(Librdkafka.LibraryName)]
    private static partial void rd_kafka_message_destroy(IntPtr message);

    [LibraryImport(Librdkafka.LibraryName)]
    private static partial int rd_kafka_message_headers(IntPtr message, out IntPtr headers);

    [LibraryImport(Librdkafka.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rd_kafka_header_get_last(IntPtr headers, string name, out IntPtr value, out nuint size);

    [LibraryImport(Librdkafka.LibraryName)]
    private static partial int rd_kafka_header_get_all(IntPtr headers, nuint index, out IntPtr name, out IntPtr value, out nuint size);

    [LibraryImport(Librdkafka.LibraryName)]
    private static partial IntPtr rd_kafka_message_errstr(IntPtr message);
}
