using System.Collections.Concurrent;
using System.Globalization;
using Apache.Arrow;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;

namespace StreamEngine.ClickHouse.Sink;

/// <summary>
/// Checkpoints kept in ClickHouse beside the results they follow (exactly once, docs/exactly-once.md): one row per
/// job, topic and source partition with the partition's operator state and the offset it covers. On assignment the
/// source asks for the partitions' offsets (<see cref="ResumeOffsets"/>), and the states read in the same query wait
/// here until the aggregation takes them (<see cref="TakeRestoredState"/>), so a partition's state and its resume
/// offset always come from the same checkpoint.
/// <para>
/// The table is a ReplacingMergeTree on the offset: per partition the furthest checkpoint wins, even over one a
/// process that lost the partition writes later (a partition's state at an offset is the same whoever computed it),
/// and merges keep one row per partition.
/// </para>
/// </summary>
public sealed class CheckpointStore : IResumePositions
{
    private readonly IClickHouseStore _store;
    private readonly string _database;
    private readonly string _table;
    private readonly string _topic;
    private readonly TableWriter _writer;
    private readonly ConcurrentDictionary<(int Partition, long Offset), byte[]> _restorable = new();

    public CheckpointStore(IClickHouseStore store, string database, string job, string topic, SinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _database = database;
        Job = job;
        _topic = topic;
        _table = $"{database}.partition_checkpoints";
        _writer = new TableWriter(store, _table, options);
    }

    /// <summary>
    /// The table's migration. (Version 2's <c>checkpoints</c> table held one state for all of a process's partitions;
    /// <see cref="ThrowIfOnlyLegacyCheckpointsAsync"/> refuses to start over it rather than replay into its results twice.)
    /// </summary>
    public static Migration Migration { get; } = new(3, "checkpoints per source partition",
    [
        "CREATE TABLE IF NOT EXISTS {database}.partition_checkpoints (job String, topic String, partition Int32, next_offset UInt64, state String, " +
        "written_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(next_offset) ORDER BY (job, topic, partition)",
    ]);

    public string Job { get; }

    /// <summary>Rows, batches and failed attempts of the checkpoint writes.</summary>
    public WriterCounters Counters => _writer.Counters;

    /// <summary>
    /// Stops the start when the job has checkpoints only in the whole-process format of migration 2: they cannot be
    /// split per partition, and starting over would write its results a second time under partition numbers.
    /// </summary>
    public async Task ThrowIfOnlyLegacyCheckpointsAsync(CancellationToken cancellationToken = default)
    {
        var legacy = LegacyTable;
        if (!await LegacyTableExistsAsync(cancellationToken) || await CountAsync(legacy, cancellationToken) == 0 || await CountAsync(_table, cancellationToken) > 0)
        {
            return;
        }

        throw new InvalidOperationException(
            $"{legacy} holds checkpoints of job {Job} in the format before per-partition state; they cannot be resumed. " +
            $"Drop the job's results and run 'DELETE FROM {legacy} WHERE job = {ClickHouseSql.Literal(Job)}' to recompute from the topic's beginning");
    }

    /// <summary>Forgets every stored position of the job (its source is a new, empty cluster).</summary>
    public async Task ForgetAsync(CancellationToken cancellationToken = default)
    {
        await _store.ExecuteAsync($"DELETE FROM {ClickHouseSql.Identifier(_table)} WHERE job = {ClickHouseSql.Literal(Job)}", cancellationToken);
        if (await LegacyTableExistsAsync(cancellationToken))
        {
            await _store.ExecuteAsync($"DELETE FROM {ClickHouseSql.Identifier(LegacyTable)} WHERE job = {ClickHouseSql.Literal(Job)}", cancellationToken);
        }
    }

    /// <summary>Migration 2's table of whole-process checkpoints.</summary>
    private string LegacyTable => $"{_database}.checkpoints";

    private async Task<bool> LegacyTableExistsAsync(CancellationToken cancellationToken) =>
        (await _store.QueryAsync($"EXISTS TABLE {ClickHouseSql.Identifier(LegacyTable)}", cancellationToken)).Trim() == "1";

    private async Task<long> CountAsync(string table, CancellationToken cancellationToken) => long.Parse(
        await _store.QueryAsync($"SELECT count() FROM {ClickHouseSql.Identifier(table)} WHERE job = {ClickHouseSql.Literal(Job)}", cancellationToken),
        CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads the newest checkpoint of each partition (waiting out an unavailable ClickHouse as writes do), keeps
    /// their states for <see cref="TakeRestoredState"/> and returns their offsets.
    /// </summary>
    public IReadOnlyDictionary<int, long> ResumeOffsets(string topic, IReadOnlyList<int> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        return LoadAsync(topic, partitions).GetAwaiter().GetResult();
    }

    /// <summary>The async form of <see cref="ResumeOffsets"/>.</summary>
    public async Task<IReadOnlyDictionary<int, long>> LoadAsync(string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        var offsets = new Dictionary<int, long>();
        if (partitions.Count == 0 || topic != _topic)
        {
            return offsets;
        }

        var output = await _writer.QueryAsync(
            $"SELECT partition, max(next_offset), base64Encode(argMax(state, next_offset)) FROM {ClickHouseSql.Identifier(_table)} " +
            $"WHERE job = {ClickHouseSql.Literal(Job)} AND topic = {ClickHouseSql.Literal(topic)} " +
            $"AND partition IN ({string.Join(',', partitions.Select(p => p.ToString(CultureInfo.InvariantCulture)))}) GROUP BY partition",
            cancellationToken);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            var partition = int.Parse(fields[0], CultureInfo.InvariantCulture);
            offsets[partition] = long.Parse(fields[1], CultureInfo.InvariantCulture);
            _restorable[(partition, offsets[partition])] = Convert.FromBase64String(fields[2]);
        }

        return offsets;
    }

    /// <summary>
    /// The state of the checkpoint at <paramref name="offset"/> read at an assignment of the partition, once (states
    /// read for other offsets of the partition, from assignments overtaken by later ones, are dropped); null when the
    /// partition starts there without one.
    /// </summary>
    public byte[]? TakeRestoredState(int partition, long offset)
    {
        var state = _restorable.TryRemove((partition, offset), out var found) ? found : null;
        foreach (var stale in _restorable.Keys.Where(k => k.Partition == partition && k.Offset <= offset))
        {
            _restorable.TryRemove(stale, out _);
        }

        return state;
    }

    /// <summary>Stores the partitions' checkpoints; call only after the results they cover are written.</summary>
    public async Task SaveAsync(Checkpoint checkpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (checkpoint.IsEmpty)
        {
            return;
        }

        var parts = checkpoint.Partitions;
        var batch = new RecordBatch.Builder()
            .Append("job", false, c => c.String(s => s.AppendRange(parts.Select(_ => Job))))
            .Append("topic", false, c => c.String(s => s.AppendRange(parts.Select(_ => _topic))))
            .Append("partition", false, c => c.Int32(s => s.AppendRange(parts.Select(p => p.Partition))))
            .Append("next_offset", false, c => c.UInt64(s => s.AppendRange(parts.Select(p => (ulong)p.NextOffset))))
            .Append("state", false, c => c.Binary(s =>
            {
                foreach (var part in parts)
                {
                    s.Append(part.State.AsSpan());
                }
            }))
            .Build();
        await _writer.WriteAsync(batch, cancellationToken: cancellationToken);
    }
}
