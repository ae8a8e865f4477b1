using System.Runtime.InteropServices;

namespace StreamEngine.ClickHouse.Embedded;

/// <summary>chDB's C API (programs/local/chdb.h) as exported by libchdb.so 26.7.</summary>
internal static partial class ChDbNative
{
    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial void chdb_set_signal_handlers_enabled(int enabled);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial IntPtr chdb_version();

    /// <summary>Returns a <c>chdb_connection*</c> (pointer to the connection), or null.</summary>
    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial IntPtr chdb_connect(int argc, IntPtr[] argv);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial void chdb_close_conn(IntPtr connectionPointer);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static unsafe partial IntPtr chdb_query_n(IntPtr connection, byte* query, nuint queryLength, byte* format, nuint formatLength);

    /// <summary>A query with server-side <c>{name:Type}</c> parameters (values are bound, never spliced into the SQL).</summary>
    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static unsafe partial IntPtr chdb_query_with_params_n(
        IntPtr connection, byte* query, nuint queryLength, byte* format, nuint formatLength,
        IntPtr* names, nuint* nameLengths, IntPtr* values, nuint* valueLengths, nuint count);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial void chdb_destroy_query_result(IntPtr result);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial IntPtr chdb_result_buffer(IntPtr result);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial nuint chdb_result_length(IntPtr result);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial double chdb_result_elapsed(IntPtr result);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial ulong chdb_result_rows_read(IntPtr result);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial ulong chdb_result_bytes_read(IntPtr result);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial ulong chdb_result_rows_written(IntPtr result);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial IntPtr chdb_result_error(IntPtr result);

    /// <summary>Begins a streaming INSERT (statement without FORMAT or data); never null, check the error.</summary>
    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static unsafe partial IntPtr chdb_stream_insert_n(IntPtr connection, byte* query, nuint queryLength, byte* format, nuint formatLength);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static unsafe partial int chdb_stream_append(IntPtr stream, byte* data, nuint length);

    /// <summary>Ends the INSERT and commits; returns a result to destroy.</summary>
    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial IntPtr chdb_stream_done(IntPtr stream);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial IntPtr chdb_stream_insert_error(IntPtr stream);

    [LibraryImport(ChDbLibrary.LibraryName)]
    internal static partial void chdb_destroy_insert_stream(IntPtr stream);

    /// <summary>Registers an Arrow C stream (<c>struct ArrowArrayStream*</c>) as table function input.</summary>
    [LibraryImport(ChDbLibrary.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chdb_arrow_scan(IntPtr connection, string tableName, IntPtr arrowStream);

    [LibraryImport(ChDbLibrary.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chdb_arrow_unregister_table(IntPtr connection, string tableName);
}
