using Apache.Arrow;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.ClickHouse.Sink;

/// <summary>How a job's results become ClickHouse rows: one Arrow batch per results table, and optionally the accepted events' table.</summary>
public sealed record ResultTables<TEvent, TKey, TResult>(Func<IReadOnlyList<WindowResult<TKey, TResult>>, IReadOnlyList<TableRows>> ToRows)
    where TKey : notnull
{
    /// <summary>The table the accepted (deduplicated) events go to, and how they become rows; null: they are not kept.</summary>
    public (string Table, Func<IReadOnlyList<EventBatch<TEvent>>, RecordBatch> ToRows)? AcceptedEvents { get; init; }
}

/// <summary>
/// A job's results store in ClickHouse: results into versioned ReplacingMergeTree tables (a re-sent block dropped by
/// its deduplication token), checkpoints into <see cref="CheckpointStore.TableName"/> through <paramref name="checkpoints"/>.
/// </summary>
public sealed class ClickHouseResultsStore<TEvent, TKey, TResult>(
    IClickHouseStore store, string database, CheckpointStore checkpoints, ResultTables<TEvent, TKey, TResult> tables, Action<string>? warn = null,
    Action<string>? inform = null)
    : IResultsStore<TEvent, TKey, TResult>
    where TKey : notnull
{
    /// <summary>Results and raw events: a block written twice means the same rows (keys, versions) twice, so a repeat may be dropped.</summary>
    private static readonly SinkOptions VersionedRows = new() { DropRepeatedBlocks = true };

    private readonly Dictionary<string, TableWriter> _writers = [];
    private readonly TableWriter? _eventWriter = tables.AcceptedEvents is { } accepted
        ? new TableWriter(store, $"{database}.{accepted.Table}", VersionedRows) { Warn = warn, Inform = inform }
        : null;

    public string Description => $"{store.Description} (database {database})";

    public byte[]? RestoreState(int partition, long offset, long generation) => checkpoints.TakeRestoredState(partition, offset, generation);

    public async Task<IReadOnlyCollection<int>> FencedAsync(IReadOnlyDictionary<int, long> held, CancellationToken cancellationToken) =>
        await checkpoints.FencedAsync(held, cancellationToken);

    public async Task WriteResultsAsync(IReadOnlyList<WindowResult<TKey, TResult>> results, IReadOnlyList<EventBatch<TEvent>> accepted, string batchId, CancellationToken cancellationToken)
    {
        // The batches' buffers are rented: back to their pool as soon as they are written, not whenever the garbage
        // collector gets to them (a catch-up builds hundreds of MiB of them per minute).
        var rows = results.Count == 0 ? [] : tables.ToRows(results);
        try
        {
            foreach (var table in rows)
            {
                await WriterFor(table.Table).WriteAsync(table.Rows, batchId, cancellationToken);
            }
        }
        finally
        {
            foreach (var table in rows)
            {
                table.Rows.Dispose();
            }
        }

        if (_eventWriter is not null && accepted.Count > 0)
        {
            using var events = tables.AcceptedEvents!.Value.ToRows(accepted);
            await _eventWriter.WriteAsync(events, batchId, cancellationToken);
        }
    }

    public Task SaveCheckpointAsync(Checkpoint checkpoint, CancellationToken cancellationToken) => checkpoints.SaveAsync(checkpoint, cancellationToken);

    public long ResultRows => ResultWriters.Sum(w => w.Counters.Rows);

    public long FailedWriteAttempts => ResultWriters.Append(_eventWriter).Sum(w => w?.Counters.FailedAttempts ?? 0) + checkpoints.Counters.FailedAttempts + checkpoints.SegmentCounters.FailedAttempts;

    /// <summary>The results' and accepted events' writers, then the checkpoints'.</summary>
    public IReadOnlyList<(string Table, WriterCounters Counters)> Sinks =>
        [.. ResultWriters.Append(_eventWriter).OfType<TableWriter>().Select(w => (w.TableName, w.Counters)), (CheckpointStore.TableName, checkpoints.Counters), (CheckpointStore.SegmentsTableName, checkpoints.SegmentCounters)];

    private TableWriter[] ResultWriters
    {
        get
        {
            lock (_writers)
            {
                return [.. _writers.Values];
            }
        }
    }

    private TableWriter WriterFor(string table)
    {
        lock (_writers)
        {
            if (!_writers.TryGetValue(table, out var writer))
            {
                _writers[table] = writer = new TableWriter(store, $"{database}.{table}", VersionedRows) { Warn = warn, Inform = inform };
            }

            return writer;
        }
    }
}
