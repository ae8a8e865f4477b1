using System.Reflection;
using System.Runtime.InteropServices;

namespace StreamEngine.Kafka;

/// <summary>
/// Finds and loads the librdkafka that ships in the librdkafka.redist package, once per process, and hands the
/// same copy to Confluent.Kafka and to our own P/Invoke declarations (two copies in one process would be two
/// separate Kafka clients that cannot share handles).
/// </summary>
/// <remarks>
/// Debian 12 lacks libsasl2.so.3, so the package's default <c>librdkafka.so</c> does not load there; the package's
/// <c>centos8-librdkafka.so</c> does, and Confluent.Kafka falls back to it. (Its <c>Library.Load(path)</c> needs a
/// <c>libdl.so</c> that Debian does not ship, so we cannot hand it a path; we follow its choice instead.)
/// </remarks>
public static class Librdkafka
{
    /// <summary>Name used in <see cref="DllImportAttribute"/> declarations; resolved by <see cref="Resolve"/>.</summary>
    internal const string LibraryName = "librdkafka";

    private static readonly Lazy<(IntPtr Handle, string Path)> Loaded = new(LoadOnce, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Full path of the loaded library.</summary>
    public static string LoadedPath => Loaded.Value.Path;

    /// <summary>Loads the library (first call only) and points Confluent.Kafka at it.</summary>
    public static void EnsureLoaded() => _ = Loaded.Value;

    internal static IntPtr Handle => Loaded.Value.Handle;

    private static (IntPtr, string) LoadOnce()
    {
        try
        {
            // Confluent.Kafka knows which of the package's builds loads on this system (on Debian 12 the
            // centos8 one, for want of libsasl2.so.3); let it choose, then bind to the file it chose.
            Confluent.Kafka.Library.Load();
        }
        catch (Exception e) when (e is DllNotFoundException or InvalidOperationException or BadImageFormatException)
        {
            throw new DllNotFoundException(
                $"librdkafka could not be loaded: {e.Message} It ships in the librdkafka.redist NuGet package (run `dotnet restore`).", e);
        }

        var path = LoadedLibraryPaths().FirstOrDefault(p => Path.GetFileName(p).EndsWith("librdkafka.so", StringComparison.Ordinal))
            ?? throw new DllNotFoundException("Confluent.Kafka reports librdkafka loaded, but no librdkafka.so is mapped into this process");
        var handle = NativeLibrary.Load(path);
        NativeLibrary.SetDllImportResolver(typeof(Librdkafka).Assembly, Resolve);
        return (handle, path);
    }

    /// <summary>Files mapped into this process, from /proc/self/maps.</summary>
    private static IEnumerable<string> LoadedLibraryPaths() =>
        File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? line[slash..] : "")
            .Where(p => p.Length > 0)
            .Distinct(StringComparer.Ordinal);

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == LibraryName ? Handle : IntPtr.Zero;
}
