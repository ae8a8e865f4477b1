namespace StreamEngine.ClickHouse.Embedded;

/// <summary>How to open the embedded ClickHouse (chDB).</summary>
public sealed record EmbeddedClickHouseOptions
{
    /// <summary>The data folder; null keeps everything in memory. One process can open one folder at a time.</summary>
    public string? Path { get; init; }

    /// <summary>ClickHouse settings for this connection, passed as <c>--name=value</c> (e.g. max_threads).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The most memory chDB's queries, inserts and merges may hold at once (its <c>max_server_memory_usage</c>; past
    /// it a query fails with MEMORY_LIMIT_EXCEEDED, which the sinks retry). chDB's own default is 90% of the machine's
    /// memory, inside the engine's process. Like every server setting, the first connection of a process sets it.
    /// </summary>
    public long MaxMemoryBytes { get; init; } = 4L << 30;

    /// <summary>The size of each of chDB's mark and primary-index caches (its own defaults are 5 GiB each); the first connection of a process sets it.</summary>
    public long CacheBytes { get; init; } = 256L << 20;
}
