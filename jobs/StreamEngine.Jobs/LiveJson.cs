using System.Buffers;
using System.Text.Json;

namespace StreamEngine.Jobs;

/// <summary>Small JSON objects for live updates.</summary>
public static class LiveJson
{
    // One buffer and writer per thread, reused: a catch-up renders hundreds of thousands of updates a second, and a
    // fresh writer per update (growing from a small buffer) allocated several times the update's size.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _threadBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? _threadJson;

    public static byte[] Write(Action<Utf8JsonWriter> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var buffer = _threadBuffer ??= new ArrayBufferWriter<byte>(1024);
        var json = _threadJson ??= new Utf8JsonWriter(buffer);
        buffer.ResetWrittenCount();
        json.Reset(buffer);
        try
        {
            json.WriteStartObject();
            fields(json);
            json.WriteEndObject();
            json.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        catch
        {
            // A writer left mid-object by a failing field would refuse the next update's first token.
            json.Reset(buffer);
            throw;
        }
    }
}
