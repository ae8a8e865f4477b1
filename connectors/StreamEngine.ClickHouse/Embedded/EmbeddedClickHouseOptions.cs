namespace StreamEngine.ClickHouse.Embedded;

/// <summary>How to open the embedded ClickHouse (chDB).</summary>
public sealed record EmbeddedClickHouseOptions
{
    /// <summary>The data folder; null keeps everything in memory. One process can open one folder at a time.</summary>
    public string? Path { get; init; }

    /// <summary>ClickHouse settings for this connection, passed as <c>--name=value</c> (e.g. max_threads).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}
