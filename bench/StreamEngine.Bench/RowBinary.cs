namespace StreamEngine.Bench;

/// <summary>Pieces of ClickHouse's RowBinary format the benchmarks encode by hand.</summary>
internal static class RowBinary
{
    /// <summary>A String: its length as an unsigned LEB128 varint, then the bytes.</summary>
    public static void WriteString(Stream buffer, ReadOnlySpan<byte> bytes)
    {
        var length = (uint)bytes.Length;
        while (length >= 0x80)
        {
            buffer.WriteByte((byte)(length | 0x80));
            length >>= 7;
        }

        buffer.WriteByte((byte)length);
        buffer.Write(bytes);
    }
}
