using Apache.Arrow;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>
/// Where results go: the embedded store (chDB in this process) or a ClickHouse server, with one behaviour. Inserts
/// take Arrow record batches and an optional deduplication token: a block re-sent with the same token is dropped
/// by the table (MergeTree's insert deduplication), which is what makes replays after a crash harmless.
/// </summary>
public interface IClickHouseStore : IAsyncDisposable
{
    /// <summary>What this is, for logs: "embedded ClickHouse at PATH" or "ClickHouse server at URL".</summary>
    string Description { get; }

    /// <summary>Runs statements whose output is not wanted.</summary>
    Task ExecuteAsync(string sql, CancellationToken cancellationToken = default);

    /// <summary>Runs a query and returns its TabSeparated output.</summary>
    Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs a query (no FORMAT clause) and returns its JSONEachRow output: one JSON object per row and line, columns
    /// by name, as ClickHouse writes them (the query's SETTINGS say how, e.g. 64-bit integers unquoted).
    /// </summary>
    Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default);

    /// <summary>
    /// Inserts one Arrow record batch into <paramref name="table"/> (columns by name, in the batch's order); <paramref name="logComment"/>
    /// (a correlation id) becomes the insert's <c>log_comment</c>.
    /// </summary>
    Task InsertAsync(string table, RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default);
}
