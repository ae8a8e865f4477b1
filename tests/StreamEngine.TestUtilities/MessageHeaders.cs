using System.Text;
using Confluent.Kafka;

namespace StreamEngine.TestUtilities;

/// <summary>Reading a record's headers in assertions.</summary>
public static class MessageHeaders
{
    /// <summary>The last header named <paramref name="name"/> as UTF-8 text; "" when the record has none.</summary>
    public static string HeaderText(this Message<byte[], byte[]> message, string name)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : "";
    }
}
