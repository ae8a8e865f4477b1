using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace StreamEngine.ClickHouse.Embedded;

/// <summary>Record batches already in memory, presented as the stream <see cref="EmbeddedClickHouse.InsertArrow"/> takes.</summary>
public sealed class InMemoryRecordBatches : IArrowArrayStream
{
    private readonly IReadOnlyList<RecordBatch> _batches;
    private int _next;

    public InMemoryRecordBatches(IReadOnlyList<RecordBatch> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        if (batches.Count == 0)
        {
            throw new ArgumentException("at least one batch is needed (it carries the schema)", nameof(batches));
        }

        _batches = batches;
    }

    public Schema Schema => _batches[0].Schema;

    public ValueTask<RecordBatch?> ReadNextRecordBatchAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_next < _batches.Count ? _batches[_next++] : null);

    /// <summary>The batches belong to the caller, who may insert them again.</summary>
    public void Dispose()
    {
    }
}
