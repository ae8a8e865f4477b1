using Apache.Arrow;
using StreamEngine.ClickHouse.Embedded;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>The embedded store: chDB in this process; Arrow batches go in through the C data interface, unserialized.</summary>
public sealed class EmbeddedStore(EmbeddedClickHouse clickHouse, bool ownsConnection = true) : IClickHouseStore
{
    public string Description => $"embedded ClickHouse at {clickHouse.DataPath}";

    public EmbeddedClickHouse Connection => clickHouse;

    // chDB calls block; they run on the thread pool so callers stay asynchronous.
    public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default) =>
        Task.Run(() => clickHouse.Execute(sql), cancellationToken);

    public Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default) =>
        Task.Run(() => clickHouse.QueryText(sql), cancellationToken);

    public Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default) =>
        Task.Run(() => clickHouse.QueryText(sql, "JSONEachRow"), cancellationToken);

    public Task InsertAsync(string table, RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Task.Run(() =>
        {
            using var _ = clickHouse.InsertArrow(ClickHouseSql.InsertHeader(table, batch.Schema, deduplicationToken, logComment), new InMemoryRecordBatches([batch]));
        }, cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        if (ownsConnection)
        {
            clickHouse.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
