using System.Reflection;
using System.Runtime.InteropServices;

namespace StreamEngine.ClickHouse.Embedded;

/// <summary>
/// Locates and loads libchdb.so (chDB, ClickHouse's in-process engine) once per process, with ClickHouse's own
/// signal handlers switched off before anything connects.
/// </summary>
/// <remarks>
/// Without <c>chdb_set_signal_handlers_enabled(0)</c> ClickHouse takes SIGSEGV from the .NET runtime, and the
/// first NullReferenceException after chDB loads kills the process (exit 139). A test keeps that proven.
/// </remarks>
public static class ChDbLibrary
{
    /// <summary>The pinned chDB release; deploy/local/setup.sh fetches exactly this one.</summary>
    public const string PinnedVersion = "26.7.3-stable.1";

    /// <summary>Overrides the search: the full path of libchdb.so.</summary>
    public const string PathEnvironmentVariable = "STREAMENGINE_CHDB_LIB";

    internal const string LibraryName = "chdb";

    private static readonly Lazy<string> Loaded = new(LoadOnce, LazyThreadSafetyMode.ExecutionAndPublication);
    private static IntPtr _handle;

    /// <summary>Where set-up puts the library: <c>$XDG_CACHE_HOME/streamengine/chdb/VERSION/libchdb.so</c>.</summary>
    public static string CachePath
    {
        get
        {
            var cacheHome = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrEmpty(cacheHome))
            {
                cacheHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            }

            return Path.Combine(cacheHome, "streamengine", "chdb", PinnedVersion, "libchdb.so");
        }
    }

    /// <summary>Full path of the loaded library.</summary>
    public static string LoadedPath => Loaded.Value;

    /// <summary>Loads the library if needed; throws <see cref="DllNotFoundException"/> naming the set-up command.</summary>
    public static void EnsureLoaded() => _ = Loaded.Value;

    /// <summary>chDB's own version string (not the ClickHouse version).</summary>
    public static string Version
    {
        get
        {
            EnsureLoaded();
            return Marshal.PtrToStringUTF8(ChDbNative.chdb_version()) ?? "unknown";
        }
    }

    private static string LoadOnce()
    {
        var overridden = Environment.GetEnvironmentVariable(PathEnvironmentVariable);
        var path = string.IsNullOrEmpty(overridden) ? CachePath : overridden;
        if (!File.Exists(path))
        {
            throw new DllNotFoundException(
                $"libchdb.so (chDB {PinnedVersion}, the embedded ClickHouse) was not found at {path}. " +
                $"Install it with `deploy/local/setup.sh`, or point {PathEnvironmentVariable} at a libchdb.so.");
        }

        try
        {
            _handle = NativeLibrary.Load(path);
        }
        catch (DllNotFoundException e)
        {
            throw new DllNotFoundException($"libchdb.so at {path} could not be loaded: {e.Message}", e);
        }

        NativeLibrary.SetDllImportResolver(typeof(ChDbLibrary).Assembly, Resolve);
        ChDbNative.chdb_set_signal_handlers_enabled(0);
        return path;
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == LibraryName ? _handle : IntPtr.Zero;
}
