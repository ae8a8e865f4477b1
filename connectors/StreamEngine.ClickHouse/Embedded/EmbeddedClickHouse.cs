using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow.C;
using Apache.Arrow.Ipc;

namespace StreamEngine.ClickHouse.Embedded;

/// <summary>
/// A connection to ClickHouse running inside this process (chDB). Queries on one connection run one at a time
/// (chDB's rule); the class serializes them, so it may be shared between threads.
/// </summary>
/// <remarks>
/// chDB boots one engine per process with one data path. Several connections to the same path may be open; a
/// different path needs every connection closed first. A process that exits with a connection open aborts in
/// chDB's teardown, so open connections are closed on <see cref="AppDomain.ProcessExit"/> too.
/// </remarks>
public sealed class EmbeddedClickHouse : IDisposable
{
    private static readonly object EngineGate = new();
    private static readonly HashSet<EmbeddedClickHouse> Open = [];
    private static string? _openPath;
    private static bool _exitHookInstalled;
    private static int _arrowTableCounter;

    private readonly ChDbConnectionHandle _handle;
    private readonly object _queryGate = new();

    private EmbeddedClickHouse(ChDbConnectionHandle handle, string path)
    {
        _handle = handle;
        DataPath = path;
    }

    /// <summary>
    /// ClickHouse's query profilers off. They interrupt a query's thread every second with SIGUSR1/SIGUSR2, and in chDB
    /// that thread is the caller's (a .NET thread-pool thread): the handler's first use of libchdb's thread-local
    /// storage on it allocates, and a signal that lands while that thread holds malloc's lock (growing a heap) deadlocks
    /// the thread and, in turn, every thread that allocates: the whole engine froze (seen under gdb: <c>malloc</c> in
    /// <c>__tls_get_addr</c> in libchdb's handler, interrupting <c>mprotect</c> in <c>malloc</c>).
    /// </summary>
    public static IReadOnlyDictionary<string, string> NoSignals { get; } = new Dictionary<string, string>
    {
        ["query_profiler_real_time_period_ns"] = "0",
        ["query_profiler_cpu_time_period_ns"] = "0",
    };

    /// <summary>The memory bounds of <paramref name="options"/> as chDB's server settings (unless its settings name them).</summary>
    private static IEnumerable<KeyValuePair<string, string>> Bounds(EmbeddedClickHouseOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxMemoryBytes, 64L << 20, nameof(options.MaxMemoryBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(options.CacheBytes, nameof(options.CacheBytes));
        var cache = options.CacheBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new Dictionary<string, string>
        {
            ["max_server_memory_usage"] = options.MaxMemoryBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["mark_cache_size"] = cache,
            ["primary_index_cache_size"] = cache,
            ["index_mark_cache_size"] = cache,
        }.Where(s => !options.Settings.ContainsKey(s.Key));
    }

    /// <summary>The data folder, or <c>:memory:</c>.</summary>
    public string DataPath { get; }

    /// <summary>Opens (creating if needed) the store at <see cref="EmbeddedClickHouseOptions.Path"/>.</summary>
    public static EmbeddedClickHouse Connect(EmbeddedClickHouseOptions? options = null)
    {
        options ??= new EmbeddedClickHouseOptions();
        ChDbLibrary.EnsureLoaded();
        var path = options.Path is null ? ":memory:" : System.IO.Path.GetFullPath(options.Path);
        if (options.Path is not null)
        {
            Directory.CreateDirectory(path);
        }

        lock (EngineGate)
        {
            if (_openPath is not null && _openPath != path)
            {
                throw new InvalidOperationException(
                    $"the embedded ClickHouse has {_openPath} open in this process; chDB opens one data path per process, so {path} cannot be opened until every connection to {_openPath} is closed");
            }

            var arguments = new List<string> { "clickhouse", $"--path={path}" };
            arguments.AddRange(options.Settings.Where(s => !NoSignals.ContainsKey(s.Key)).Concat(NoSignals).Concat(Bounds(options)).Select(s => $"--{s.Key}={s.Value}"));
            var handle = ConnectNative(arguments);
            if (handle.IsInvalid)
            {
                throw new ClickHouseException(
                    $"chDB could not open {path} (is another process using it? chDB lets one process open a data path at a time)");
            }

            var connection = new EmbeddedClickHouse(handle, path);
            Open.Add(connection);
            _openPath = path;
            if (!_exitHookInstalled)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) => CloseAllAtExit();
                _exitHookInstalled = true;
            }

            return connection;
        }
    }

    /// <summary>Runs a query and returns its output in <paramref name="format"/> (any ClickHouse output format).</summary>
    public ChDbResult Query(string sql, string format = "TabSeparated")
    {
        ArgumentNullException.ThrowIfNull(sql);
        var length = Encoding.UTF8.GetByteCount(sql);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(sql, buffer);
            return QueryBytes(buffer.AsSpan(0, written), format);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Runs a query with <c>{name:Type}</c> placeholders bound to <paramref name="parameters"/> by the engine (as
    /// ClickHouse's HTTP <c>param_name</c> does): values are never spliced into the SQL.
    /// </summary>
    public unsafe ChDbResult Query(string sql, string format, IReadOnlyDictionary<string, string> parameters)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Count == 0)
        {
            return Query(sql, format);
        }

        var query = Encoding.UTF8.GetBytes(sql);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        var names = parameters.Keys.Select(Encoding.UTF8.GetBytes).ToArray();
        var values = parameters.Values.Select(Encoding.UTF8.GetBytes).ToArray();
        var handles = names.Concat(values).Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
        try
        {
            var namePointers = stackalloc IntPtr[names.Length];
            var valuePointers = stackalloc IntPtr[names.Length];
            var nameLengths = stackalloc nuint[names.Length];
            var valueLengths = stackalloc nuint[names.Length];
            for (var i = 0; i < names.Length; i++)
            {
                namePointers[i] = handles[i].AddrOfPinnedObject();
                valuePointers[i] = handles[names.Length + i].AddrOfPinnedObject();
                nameLengths[i] = (nuint)names[i].Length;
                valueLengths[i] = (nuint)values[i].Length;
            }

            lock (_queryGate)
            {
                var connection = LiveConnection();
                fixed (byte* q = query)
                fixed (byte* f = formatBytes)
                {
                    return TakeResult(ChDbNative.chdb_query_with_params_n(connection, q, (nuint)query.Length, f, (nuint)formatBytes.Length,
                        namePointers, nameLengths, valuePointers, valueLengths, (nuint)names.Length));
                }
            }
        }
        finally
        {
            foreach (var handle in handles)
            {
                handle.Free();
            }
        }
    }

    /// <summary>Runs a query and returns its output as text.</summary>
    public string QueryText(string sql, string format = "TabSeparated")
    {
        using var result = Query(sql, format);
        return result.Text;
    }

    /// <summary>Runs statements whose output is not wanted (DDL, settings, INSERT ... SELECT).</summary>
    public void Execute(string sql)
    {
        using var _ = Query(sql);
    }

    /// <summary>
    /// Inserts <paramref name="data"/>, encoded in <paramref name="format"/> (RowBinary, JSONEachRow, Native, ...),
    /// with <paramref name="insertStatement"/> such as <c>INSERT INTO db.t (a, b) SETTINGS ...</c> (no FORMAT).
    /// </summary>
    /// <remarks>
    /// Uses chDB's streaming INSERT. Data appended to the query text instead (<c>INSERT ... FORMAT X\n&lt;data&gt;</c>
    /// through chdb_query_n) was silently cut short here: 2,570 of 1,000,000 RowBinary rows arrived, without error.
    /// </remarks>
    public unsafe ChDbResult Insert(string insertStatement, string format, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(insertStatement);
        ArgumentNullException.ThrowIfNull(format);
        var statement = Encoding.UTF8.GetBytes(insertStatement);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        lock (_queryGate)
        {
            var connection = LiveConnection();
            IntPtr stream;
            fixed (byte* q = statement)
            fixed (byte* f = formatBytes)
            {
                stream = ChDbNative.chdb_stream_insert_n(connection, q, (nuint)statement.Length, f, (nuint)formatBytes.Length);
            }

            if (stream == IntPtr.Zero)
            {
                throw new ClickHouseException($"chDB could not start '{insertStatement}'");
            }

            try
            {
                ThrowIfStreamFailed(stream);
                if (!data.IsEmpty)
                {
                    fixed (byte* d = data)
                    {
                        if (ChDbNative.chdb_stream_append(stream, d, (nuint)data.Length) != 0)
                        {
                            ThrowIfStreamFailed(stream);
                            throw new ClickHouseException($"chDB refused the data of '{insertStatement}'");
                        }
                    }
                }

                return TakeResult(ChDbNative.chdb_stream_done(stream));
            }
            finally
            {
                ChDbNative.chdb_destroy_insert_stream(stream);
            }
        }
    }

    /// <summary>
    /// Inserts Arrow record batches without serializing them: the stream is handed to chDB through the Arrow C data
    /// interface and read with <c>INSERT ... SELECT * FROM arrowstream(...)</c>.
    /// </summary>
    /// <param name="insertStatement">For example <c>INSERT INTO db.t (a, b)</c>; the SELECT is appended.</param>
    /// <param name="batches">The batches; their columns must match the insert's column list by position.</param>
    public unsafe ChDbResult InsertArrow(string insertStatement, IArrowArrayStream batches)
    {
        ArgumentNullException.ThrowIfNull(insertStatement);
        ArgumentNullException.ThrowIfNull(batches);
        var name = $"streamengine_arrow_{Interlocked.Increment(ref _arrowTableCounter)}";
        var stream = CArrowArrayStream.Create();
        try
        {
            CArrowArrayStreamExporter.ExportArrayStream(batches, stream);
            lock (_queryGate)
            {
                var connection = LiveConnection();
                if (ChDbNative.chdb_arrow_scan(connection, name, (IntPtr)stream) != 0)
                {
                    throw new ClickHouseException($"chDB refused the Arrow stream for '{insertStatement}'");
                }

                try
                {
                    return QueryBytesLocked(Encoding.UTF8.GetBytes($"{insertStatement} SELECT * FROM arrowstream('{name}')"), "TabSeparated");
                }
                finally
                {
                    ChDbNative.chdb_arrow_unregister_table(connection, name);
                }
            }
        }
        finally
        {
            // Releases the exported stream unless chDB already did, then frees the struct.
            CArrowArrayStream.Free(stream);
        }
    }

    /// <summary>Closes the connection. Closing the last one shuts the engine down and frees the data path.</summary>
    public void Dispose()
    {
        lock (EngineGate)
        {
            lock (_queryGate)
            {
                if (_handle.IsClosed)
                {
                    return;
                }

                _handle.Dispose();
            }

            Open.Remove(this);
            if (Open.Count == 0)
            {
                _openPath = null;
            }
        }
    }

    private ChDbResult QueryBytes(ReadOnlySpan<byte> query, string format)
    {
        lock (_queryGate)
        {
            return QueryBytesLocked(query, format);
        }
    }

    private unsafe ChDbResult QueryBytesLocked(ReadOnlySpan<byte> query, string format)
    {
        var connection = LiveConnection();
        var formatBytes = Encoding.UTF8.GetBytes(format);
        fixed (byte* q = query)
        fixed (byte* f = formatBytes)
        {
            return TakeResult(ChDbNative.chdb_query_n(connection, q, (nuint)query.Length, f, (nuint)formatBytes.Length));
        }
    }

    /// <summary>Wraps a native result, or throws ClickHouse's error (freeing the result) if it carries one.</summary>
    private static ChDbResult TakeResult(IntPtr native)
    {
        var result = new ChDbResultHandle();
        Marshal.InitHandle(result, native);
        if (result.IsInvalid)
        {
            throw new ClickHouseException("chDB returned no result (the connection may have been closed)");
        }

        var error = ChDbNative.chdb_result_error(result.DangerousGetHandle());
        if (error != IntPtr.Zero)
        {
            var text = Marshal.PtrToStringUTF8(error) ?? "unknown error";
            result.Dispose();
            throw ClickHouseException.FromServerText(text);
        }

        return new ChDbResult(result);
    }

    private static void ThrowIfStreamFailed(IntPtr stream)
    {
        var error = ChDbNative.chdb_stream_insert_error(stream);
        if (error != IntPtr.Zero)
        {
            throw ClickHouseException.FromServerText(Marshal.PtrToStringUTF8(error) ?? "unknown error");
        }
    }

    private IntPtr LiveConnection()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        return _handle.Connection;
    }

    private static ChDbConnectionHandle ConnectNative(List<string> arguments)
    {
        var argv = arguments.Select(Marshal.StringToCoTaskMemUTF8).ToArray();
        try
        {
            var handle = new ChDbConnectionHandle();
            Marshal.InitHandle(handle, ChDbNative.chdb_connect(argv.Length, argv));
            return handle;
        }
        finally
        {
            foreach (var pointer in argv)
            {
                Marshal.FreeCoTaskMem(pointer);
            }
        }
    }

    private static void CloseAllAtExit()
    {
        lock (EngineGate)
        {
            foreach (var connection in Open.ToArray())
            {
                connection.Dispose();
            }
        }
    }
}
