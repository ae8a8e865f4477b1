using System.Collections.Concurrent;
using System.Globalization;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Events;

namespace StreamEngine.ClickHouse.Sink;

/// <summary>
/// Source positions kept in ClickHouse next to the results they cover (DESIGN.md, exactly once): per job, topic
/// and partition, the offset to resume from. Saved after the results; read on start and on assignment, so a
/// restarted or rebalanced engine continues exactly where the stored results end.
/// </summary>
public sealed class OffsetStore(IClickHouseStore store, string database, string job) : IResumePositions
{
    private readonly ConcurrentDictionary<(string Topic, int Partition), long> _known = new();
    private long _sequence = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    /// <summary>The table's migration, to apply with the sink's others.</summary>
    public static Migration Migration { get; } = new(1, "source offsets",
    [
        "CREATE TABLE IF NOT EXISTS {database}.source_offsets (job String, topic String, partition UInt32, next_offset Int64, seq UInt64, " +
        "written_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(seq) ORDER BY (job, topic, partition)",
    ]);

    public string Job { get; } = job;

    /// <summary>Reads every stored position of this job (call on start, and again before assignments are answered).</summary>
    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        var rows = await store.QueryAsync(
            $"SELECT topic, partition, argMax(next_offset, seq) FROM {ClickHouseSql.Identifier(database)}.source_offsets " +
            $"WHERE job = {ClickHouseSql.Literal(Job)} GROUP BY topic, partition", cancellationToken);
        foreach (var line in rows.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            _known[(fields[0], int.Parse(fields[1], CultureInfo.InvariantCulture))] = long.Parse(fields[2], CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Where results for the partition end, or null when none were stored.</summary>
    public long? ResumeOffset(string topic, int partition) => _known.TryGetValue((topic, partition), out var offset) ? offset : null;

    /// <summary>Stores positions after the results up to them are written; later saves win.</summary>
    public async Task SaveAsync(string topic, IReadOnlyDictionary<int, long> nextOffsets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nextOffsets);
        if (nextOffsets.Count == 0)
        {
            return;
        }

        var rows = string.Join(", ", nextOffsets.Select(p =>
            $"({ClickHouseSql.Literal(Job)}, {ClickHouseSql.Literal(topic)}, {p.Key}, {p.Value}, {Interlocked.Increment(ref _sequence)})"));
        await store.ExecuteAsync($"INSERT INTO {ClickHouseSql.Identifier(database)}.source_offsets (job, topic, partition, next_offset, seq) VALUES {rows}", cancellationToken);
        foreach (var (partition, offset) in nextOffsets)
        {
            _known[(topic, partition)] = offset;
        }
    }
}
