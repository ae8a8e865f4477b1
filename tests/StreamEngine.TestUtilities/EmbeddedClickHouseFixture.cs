using StreamEngine.ClickHouse.Embedded;

namespace StreamEngine.TestUtilities;

/// <summary>
/// The embedded ClickHouse (chDB) on a temporary data folder, shared by a test collection: chDB opens one data
/// path per process, so tests share the store and each takes a database of its own.
/// </summary>
public sealed class EmbeddedClickHouseFixture : IDisposable
{
    private readonly TemporaryDirectory _directory = new("streamengine-chdb");
    private int _databaseCounter;

    public EmbeddedClickHouseFixture()
    {
        Store = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = _directory.Path });
    }

    public EmbeddedClickHouse Store { get; }

    public string DataPath => _directory.Path;

    /// <summary>Creates a database no other test uses and returns its name.</summary>
    public string CreateDatabase(string prefix = "test")
    {
        var name = $"{prefix}_{Interlocked.Increment(ref _databaseCounter)}";
        Store.Execute($"CREATE DATABASE IF NOT EXISTS {name}");
        return name;
    }

    public void Dispose()
    {
        Store.Dispose();
        _directory.Dispose();
    }
}
