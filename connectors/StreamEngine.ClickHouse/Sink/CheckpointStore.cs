using System.Globalization;
using Apache.Arrow;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Events;

namespace StreamEngine.ClickHouse.Sink;

/// <summary>A stored checkpoint: the aggregation state and the source offsets it covers.</summary>
public sealed record StoredCheckpoint(long Sequence, IReadOnlyDictionary<int, long> NextOffsets, byte[] State);

/// <summary>
/// Checkpoints kept in ClickHouse beside the results they follow (exactly once, docs/exactly-once.md): one row per
/// checkpoint with the source offsets and the operator state. The newest one is where a (re)started engine resumes:
/// its state is restored and its offsets are where the source seeks.
/// </summary>
public sealed class CheckpointStore(IClickHouseStore store, string database, string job, string topic) : IResumePositions
{
    private readonly string _table = $"{database}.checkpoints";
    private long _sequence;
    private IReadOnlyDictionary<int, long> _resume = new Dictionary<int, long>();

    /// <summary>The table's migration (kept a day, then dropped by TTL: only the newest checkpoint matters).</summary>
    public static Migration Migration { get; } = new(2, "checkpoints",
    [
        "CREATE TABLE IF NOT EXISTS {database}.checkpoints (job String, seq UInt64, topic String, offsets String, state String, " +
        "written_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY (job, seq) TTL toDateTime(written_at) + INTERVAL 1 DAY",
    ]);

    public string Job { get; } = job;

    /// <summary>Reads the newest checkpoint of this job, or null when it has none yet.</summary>
    public async Task<StoredCheckpoint?> LoadLatestAsync(CancellationToken cancellationToken = default)
    {
        var row = (await store.QueryAsync(
            $"SELECT seq, offsets, base64Encode(state) FROM {ClickHouseSql.Identifier(_table)} WHERE job = {ClickHouseSql.Literal(Job)} " +
            $"AND topic = {ClickHouseSql.Literal(topic)} ORDER BY seq DESC LIMIT 1", cancellationToken)).Trim('\n');
        if (row.Length == 0)
        {
            return null;
        }

        var fields = row.Split('\t');
        var checkpoint = new StoredCheckpoint(long.Parse(fields[0], CultureInfo.InvariantCulture), ParseOffsets(fields[1]), Convert.FromBase64String(fields[2]));
        _sequence = checkpoint.Sequence;
        _resume = checkpoint.NextOffsets;
        return checkpoint;
    }

    /// <summary>Where the last loaded or saved checkpoint says a partition resumes.</summary>
    public long? ResumeOffset(string topic, int partition) => _resume.TryGetValue(partition, out var offset) ? offset : null;

    /// <summary>Stores a checkpoint; call only after the results it covers are written.</summary>
    public async Task SaveAsync(IReadOnlyDictionary<int, long> nextOffsets, byte[] state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nextOffsets);
        ArgumentNullException.ThrowIfNull(state);
        // Offsets of partitions this run has not touched carry over from the checkpoint it started from.
        var merged = new Dictionary<int, long>(_resume);
        foreach (var (partition, offset) in nextOffsets)
        {
            merged[partition] = offset;
        }

        var sequence = ++_sequence;
        var batch = new RecordBatch.Builder()
            .Append("job", false, c => c.String(s => s.Append(Job)))
            .Append("seq", false, c => c.UInt64(s => s.Append((ulong)sequence)))
            .Append("topic", false, c => c.String(s => s.Append(topic)))
            .Append("offsets", false, c => c.String(s => s.Append(FormatOffsets(merged))))
            .Append("state", false, c => c.Binary(s => s.Append(state.AsSpan())))
            .Build();
        await store.InsertAsync(_table, batch, $"{Job}/checkpoint/{sequence}", cancellationToken);
        _resume = merged;
    }

    private static string FormatOffsets(IReadOnlyDictionary<int, long> offsets) =>
        string.Join(',', offsets.OrderBy(o => o.Key).Select(o => string.Create(CultureInfo.InvariantCulture, $"{o.Key}:{o.Value}")));

    private static Dictionary<int, long> ParseOffsets(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(pair => pair.Split(':'))
            .ToDictionary(p => int.Parse(p[0], CultureInfo.InvariantCulture), p => long.Parse(p[1], CultureInfo.InvariantCulture));
}
