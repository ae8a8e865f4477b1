using System.Buffers;

namespace StreamEngine.Runtime.Ports;

/// <summary>Why a message is not an event: a short reason (a dead-letter header, a metric label) and a detail for people.</summary>
public readonly record struct DecodeError(string Reason, string Detail)
{
    /// <summary>A required field is absent.</summary>
    public static DecodeError Missing(string field) => new("missing-field", $"required field '{field}' is missing");

    /// <summary>A field holds the wrong type of value.</summary>
    public static DecodeError WrongType(string field, string expected) => new("wrong-type", $"field '{field}' must be {expected}");
}

/// <summary>
/// How a job's events are read from and written to a log's messages: sources are generic over it (the Kafka source
/// reads any format; a message that does not decode is dead-lettered with the reason), and side outputs write with
/// it. Nothing may throw for bad input. One instance per thread.
/// </summary>
public interface IEventFormat<TEvent>
{
    /// <summary>Decodes the message read at <paramref name="offset"/> of its partition.</summary>
    bool TryDecode(ReadOnlySpan<byte> message, long offset, out TEvent value, out DecodeError reason);

    /// <summary>The offset the event was read at (late records say where they came from).</summary>
    long OffsetOf(in TEvent value);

    /// <summary>Writes the event as a message (for the late topic) to <paramref name="output"/>; returns the message's key.</summary>
    byte[] Encode(in TEvent value, IBufferWriter<byte> output);
}
