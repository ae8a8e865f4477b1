using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Runtime.Testing;

/// <summary>
/// A results store with the semantics of the ClickHouse sink, in memory: result rows keyed by (key, window start,
/// source partition), the newest version winning (a retraction removes its row); per partition the checkpoint with
/// the newest (generation, offset) winning, every assignment claiming a generation above all stored ones, its state's
/// segments kept once by hash and the checkpoint holding their hashes (<see cref="StateSegments"/>). It can be
/// told to fail writes, to test what a failing store does to a job.
/// </summary>
public sealed class InMemoryResultsStore<TKey, TResult>
    where TKey : notnull
{
    private readonly Dictionary<(TKey Key, long Start, int Partition), WindowResult<TKey, TResult>> _rows = [];
    private readonly Dictionary<int, PartitionCheckpoint> _checkpoints = [];
    private readonly Dictionary<(int Partition, UInt128 Hash), byte[]> _segments = [];
    private readonly List<IReadOnlyList<WindowResult<TKey, TResult>>> _written = [];
    private int _failingWrites;

    /// <summary>The rows as analysts' views read them: per (key, window start, partition) the newest version.</summary>
    public IReadOnlyDictionary<(TKey Key, long Start, int Partition), WindowResult<TKey, TResult>> Rows => _rows;

    /// <summary>The winning checkpoint of each partition (its state as stored: segments as hashes).</summary>
    public IReadOnlyDictionary<int, PartitionCheckpoint> Checkpoints => _checkpoints;

    /// <summary>Result rows written, replays included.</summary>
    public long RowsWritten { get; private set; }

    /// <summary>
    /// Every batch of results written, in order, replays included: what a table that keeps each version holds before
    /// it merges, for results whose rows are finer than (key, window, partition), e.g. parts that only changed ones carry.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<WindowResult<TKey, TResult>>> Written => _written;

    /// <summary>Makes the next <paramref name="count"/> writes (results or checkpoints) fail, as an unavailable store does.</summary>
    public void FailNextWrites(int count) => _failingWrites = Math.Max(0, count);

    /// <summary>Claims a partition for a new assignment: its newest checkpoint, stored again under the next generation.</summary>
    public (PartitionStart Start, byte[] State) Claim(int partition)
    {
        if (_checkpoints.TryGetValue(partition, out var newest))
        {
            var claimed = newest with { Generation = newest.Generation + 1 };
            _checkpoints[partition] = claimed;
            var state = StateSegments.Resolve(newest.State, hash => _segments.TryGetValue((partition, hash), out var data) ? data : null);
            return (new PartitionStart(newest.NextOffset, claimed.Generation), state);
        }

        _checkpoints[partition] = new PartitionCheckpoint(partition, -1, [], 0) { Generation = 1 };
        return (new PartitionStart(-1, 1), []);
    }

    /// <summary>Whether a newer assignment than <paramref name="generation"/> has claimed the partition.</summary>
    public bool IsFenced(int partition, long generation) => _checkpoints.TryGetValue(partition, out var newest) && newest.Generation > generation;

    /// <summary>Upserts result rows by version; throws while writes are failing.</summary>
    public void Write(IEnumerable<WindowResult<TKey, TResult>> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        FailIfAsked();
        var batch = results.ToList();
        _written.Add(batch);
        foreach (var result in batch)
        {
            RowsWritten++;
            var id = (result.Key, result.WindowStartMs, result.Partition);
            var exists = _rows.TryGetValue(id, out var current);
            if (result.Emission == WindowEmission.Retraction)
            {
                if (exists && current.Version <= result.Version)
                {
                    _rows.Remove(id);
                }
            }
            else if (!exists || current.Version <= result.Version)
            {
                _rows[id] = result;
            }
        }
    }

    /// <summary>Stores checkpoints; one of an older generation than the stored one, or at an earlier offset of the same, loses.</summary>
    public void Save(Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        FailIfAsked();
        SaveSegments(checkpoint);
        foreach (var partition in checkpoint.Partitions)
        {
            if (!_checkpoints.TryGetValue(partition.Partition, out var stored) ||
                (partition.Generation, partition.NextOffset).CompareTo((stored.Generation, stored.NextOffset)) >= 0)
            {
                _checkpoints[partition.Partition] = partition with { State = StateSegments.ToManifest(partition.State) };
            }
        }
    }

    /// <summary>
    /// Keeps the state segments the checkpoint carries inline, as the ClickHouse store does before it writes the
    /// checkpoint's rows (every one, even of a checkpoint that then loses or never gets its rows).
    /// </summary>
    public void SaveSegments(Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        foreach (var partition in checkpoint.Partitions)
        {
            foreach (var (hash, data) in StateSegments.Inline(partition.State))
            {
                _segments[(partition.Partition, hash)] = data.ToArray();
            }
        }
    }

    private void FailIfAsked()
    {
        if (_failingWrites > 0)
        {
            _failingWrites--;
            throw new IOException("the results store is unavailable (a test asked it to fail)");
        }
    }
}
