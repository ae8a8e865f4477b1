namespace StreamEngine.Host.Configuration;

/// <summary>The <c>kafka.*</c> keys, typed: where a job reads and as which group.</summary>
/// <param name="Bootstrap">The bootstrap servers (empty: not configured).</param>
/// <param name="Topic">The input topic; dead letters go to <c>TOPIC.dlq</c>, late events to <c>TOPIC.late</c>.</param>
/// <param name="Group">The consumer group, or null for <c>streamengine-JOB</c>.</param>
/// <param name="MaxPollInterval">How long a consumer may go without polling before it leaves its group.</param>
/// <param name="ClientSettings">Security settings passed through to the clients, without the <c>kafka.</c> prefix.</param>
public sealed record KafkaSettings(string Bootstrap, string Topic, string? Group, TimeSpan MaxPollInterval, IReadOnlyDictionary<string, string> ClientSettings)
{
    /// <summary>The job's consumer group.</summary>
    public string GroupFor(string job) => Group ?? $"streamengine-{job}";
}

/// <summary>The <c>clickhouse.*</c> keys a store is opened with, typed.</summary>
/// <param name="Embedded">Whether the store is the embedded chDB (<c>clickhouse.mode=embedded</c>) or a server.</param>
/// <param name="Path">The embedded store's data folder.</param>
/// <param name="Url">The server's HTTP(S) URL.</param>
/// <param name="User">The server user.</param>
/// <param name="Password">Its password (a secret).</param>
/// <param name="Database">The database of results and checkpoints.</param>
/// <param name="Cluster">The cluster the schema is made on, or null.</param>
/// <param name="RawEvents">Whether ad-metrics also writes the raw events.</param>
/// <param name="AcceptInvalidCertificate">Tests only: no certificate check on https://.</param>
/// <param name="EmbeddedMaxMemoryBytes">The embedded store's memory bound (chDB's max_server_memory_usage).</param>
/// <param name="EmbeddedCacheBytes">The size of each of the embedded store's mark and index caches.</param>
public sealed record ClickHouseSettings(
    bool Embedded, string Path, Uri Url, string User, string Password, string Database, StreamEngine.ClickHouse.Stores.ClickHouseCluster? Cluster, bool RawEvents,
    bool AcceptInvalidCertificate, long EmbeddedMaxMemoryBytes, long EmbeddedCacheBytes)
{
    /// <summary>How the embedded store is opened: its folder and memory bounds.</summary>
    public StreamEngine.ClickHouse.Embedded.EmbeddedClickHouseOptions EmbeddedOptions =>
        new() { Path = System.IO.Path.GetFullPath(Path), MaxMemoryBytes = EmbeddedMaxMemoryBytes, CacheBytes = EmbeddedCacheBytes };
}

/// <summary>The <c>window.*</c> and <c>pipeline.*</c> keys, typed.</summary>
/// <param name="WatermarkDelay">How far watermarks trail the newest event.</param>
/// <param name="AllowedLateness">How late an event may be after its window closed and still count.</param>
/// <param name="MaxPendingRows">Rows waiting for the store before the source is held back.</param>
/// <param name="MaxDedupIds">Event ids a partition's state remembers for dedup at most.</param>
public sealed record PipelineSettings(TimeSpan WatermarkDelay, TimeSpan AllowedLateness, int MaxPendingRows, int MaxDedupIds);
