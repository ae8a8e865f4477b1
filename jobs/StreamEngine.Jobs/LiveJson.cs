using System.Text.Json;

namespace StreamEngine.Jobs;

/// <summary>Small JSON objects for live updates.</summary>
public static class LiveJson
{
    public static byte[] Write(Action<Utf8JsonWriter> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            fields(json);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
