using System.Text;

namespace StreamEngine.ClickHouse.Embedded;

/// <summary>
/// A query's output, left in chDB's native buffer: read it as a span or a stream without copying, and dispose
/// the result to free the buffer (views of it are invalid afterwards).
/// </summary>
public sealed class ChDbResult : IDisposable
{
    private readonly ChDbResultHandle _handle;

    internal ChDbResult(ChDbResultHandle handle)
    {
        _handle = handle;
        var raw = handle.DangerousGetHandle();
        Length = checked((long)ChDbNative.chdb_result_length(raw));
        Elapsed = TimeSpan.FromSeconds(ChDbNative.chdb_result_elapsed(raw));
        RowsRead = ChDbNative.chdb_result_rows_read(raw);
        BytesRead = ChDbNative.chdb_result_bytes_read(raw);
        RowsWritten = ChDbNative.chdb_result_rows_written(raw);
    }

    /// <summary>Bytes of output.</summary>
    public long Length { get; }

    public TimeSpan Elapsed { get; }

    public ulong RowsRead { get; }

    public ulong BytesRead { get; }

    /// <summary>Rows an INSERT wrote (including those of materialized views it fed).</summary>
    public ulong RowsWritten { get; }

    /// <summary>The output bytes, valid until the result is disposed.</summary>
    public unsafe ReadOnlySpan<byte> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return Length == 0 ? [] : new ReadOnlySpan<byte>((void*)ChDbNative.chdb_result_buffer(_handle.DangerousGetHandle()), checked((int)Length));
        }
    }

    /// <summary>A read-only stream over the output (no copy), valid until the result is disposed.</summary>
    public unsafe Stream OpenStream()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (Length == 0)
        {
            return Stream.Null;
        }

        return new UnmanagedMemoryStream((byte*)ChDbNative.chdb_result_buffer(_handle.DangerousGetHandle()), Length, Length, FileAccess.Read);
    }

    /// <summary>The output decoded as UTF-8.</summary>
    public string Text => Encoding.UTF8.GetString(Span);

    public override string ToString() => Text;

    public void Dispose() => _handle.Dispose();
}
