using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Runtime.Ports;
using StreamEngine.Runtime.Results;

namespace StreamEngine.ClickHouse.Sink;

/// <summary>
/// Checkpoints kept in ClickHouse beside the results they follow (exactly once, docs/exactly-once.md): rows per job,
/// topic and source partition with the partition's operator state, the offset it covers, its watermark and the
/// generation of the assignment that wrote it. Every assignment claims its partitions (<see cref="Claim"/>): it reads
/// the newest checkpoint of each, takes a generation above any stored and writes the checkpoint back under it before
/// reading a message, so whatever a former owner writes later (paused, partitioned, not yet told) loses. The states
/// read in the claim wait here until the aggregation takes them (<see cref="TakeRestoredState"/>), so a partition's
/// state and its resume offset always come from the same checkpoint.
/// <para>
/// Newest wins by (generation, owner, offset): the table is a ReplacingMergeTree on a version made of the three, so
/// merges keep the row readers pick, and a further offset from an older generation never wins. The owner (a random
/// number per store) breaks a tie between two claims that read the same generation at once (a claim stalled past
/// the consumer's poll interval, its partitions moved meanwhile): exactly one of them wins, and the other's writes
/// are fenced like an older generation's.
/// </para>
/// <para>
/// A state comes in segments (<see cref="StateSegments"/>): each segment is kept once in
/// <c>partition_state_segments</c> under its hash, written before the checkpoint row that refers to it, and the
/// checkpoint row holds the header and the hashes. A checkpoint writes only the segments its partition changed (the
/// aggregation refers to stored, unchanged ones by hash). A claim reads the segments back and writes them again under
/// the new generation's time; segments no newest checkpoint refers to are deleted after <see cref="SegmentGrace"/>.
/// </para>
/// </summary>
public sealed class CheckpointStore : IResumePositions
{
    /// <summary>The table's name in the job's database.</summary>
    public const string TableName = "partition_checkpoints_v2";

    /// <summary>The table of state segments (by job, topic, partition and hash) that checkpoint rows refer to.</summary>
    public const string SegmentsTableName = "partition_state_segments";

    /// <summary>
    /// How old a segment no newest checkpoint refers to must be before a sweep deletes it: the segments of a
    /// checkpoint whose row is not stored yet (they are written first) and those a new owner's claim wrote are younger.
    /// </summary>
    public TimeSpan SegmentGrace { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the segments of the partitions a checkpoint stored are swept (at most).</summary>
    public TimeSpan SegmentSweepInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The order in which a partition's checkpoints supersede each other, for <c>argMax</c>: (generation, owner,
    /// offset) packed into <c>newest</c>, then the write time (a checkpoint at the offset its claim started from, after
    /// a state change without new input, comes after the claim). Merges agree: among equal versions a
    /// ReplacingMergeTree keeps the last inserted row.
    /// </summary>
    public const string NewestFirst = "(newest, written_at)";

    /// <summary>
    /// How long a claim waits for ClickHouse before the source gives up: below the consumer's max.poll.interval.ms
    /// (librdkafka's default 5 min), as the claim runs inside the rebalance, where the consumer does not poll.
    /// </summary>
    public TimeSpan ClaimTimeout { get; init; } = TimeSpan.FromMinutes(4);

    private readonly uint _owner = BitConverter.ToUInt32(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)) | 1;
    private readonly IClickHouseStore _store;
    private readonly string _database;
    private readonly string _table;
    private readonly string _topic;
    private readonly TableWriter _writer;
    private readonly TableWriter _segments;
    private readonly string _segmentsTable;
    private readonly Action<string>? _warn;
    private long _fencedAtServerMs;
    private long _lastSweep = Stopwatch.GetTimestamp();
    private readonly ConcurrentDictionary<(int Partition, long Generation), (long Offset, byte[] State)> _restorable = new();

    /// <param name="warn">Where stalled checkpoint writes are reported (see <see cref="TableWriter.Warn"/>).</param>
    /// <param name="inform">Where their end is reported.</param>
    public CheckpointStore(IClickHouseStore store, string database, string job, string topic, SinkOptions? options = null,
        Action<string>? warn = null, Action<string>? inform = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _database = database;
        Job = job;
        _topic = topic;
        _table = $"{database}.{TableName}";
        _writer = new TableWriter(store, _table, options) { Warn = warn, Inform = inform };
        _warn = warn;
        _segmentsTable = $"{database}.{SegmentsTableName}";
        _segments = new TableWriter(store, _segmentsTable, options) { Warn = warn, Inform = inform };
    }

    /// <summary>
    /// The table's migrations. (Version 2's <c>checkpoints</c> table held one state for all of a process's partitions;
    /// <see cref="ThrowIfOnlyLegacyCheckpointsAsync"/> refuses to start over it rather than replay into its results twice.
    /// Version 3's <c>partition_checkpoints</c> let the furthest offset win; version 4 copies its rows as generation 0.
    /// The old table is left in place: an engine of the previous version that is still running writes there and
    /// wins nothing, and it can be dropped once no such engine runs.)
    /// </summary>
    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(3, "checkpoints per source partition",
        [
            "CREATE TABLE IF NOT EXISTS {database}.partition_checkpoints (job String, topic String, partition Int32, next_offset UInt64, state String, " +
            "written_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(next_offset) ORDER BY (job, topic, partition)",
        ]),
        new(4, "checkpoints fenced by assignment generation",
        [
            "CREATE TABLE IF NOT EXISTS {database}.partition_checkpoints_v2 (job String, topic String, partition Int32, generation UInt32, owner UInt32, " +
            "next_offset UInt64, watermark Int64, state String, written_at DateTime64(3, 'UTC') DEFAULT now64(3), " +
            "newest UInt128 MATERIALIZED bitShiftLeft(toUInt128(generation), 96) + bitShiftLeft(toUInt128(owner), 64) + next_offset) " +
            "ENGINE = ReplacingMergeTree(newest) ORDER BY (job, topic, partition)",
            "INSERT INTO {database}.partition_checkpoints_v2 (job, topic, partition, generation, owner, next_offset, watermark, state, written_at) " +
            "SELECT job, topic, partition, 0, 0, max(next_offset), -9223372036854775808, argMax(state, next_offset), max(written_at) " +
            "FROM {database}.partition_checkpoints GROUP BY job, topic, partition",
        ]),
        new(5, "state segments kept once, checkpoints refer to them by hash",
        [
            "CREATE TABLE IF NOT EXISTS {database}.partition_state_segments (job String, topic String, partition Int32, hash String, data String, " +
            "write_id UInt64, written_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(written_at) ORDER BY (job, topic, partition, hash)",
        ]),
    ];

    public string Job { get; }

    /// <summary>Rows, batches and failed attempts of the checkpoint writes.</summary>
    public WriterCounters Counters => _writer.Counters;

    /// <summary>Rows, batches and failed attempts of the state segments' writes.</summary>
    public WriterCounters SegmentCounters => _segments.Counters;

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
        await _store.ExecuteAsync($"DELETE FROM {ClickHouseSql.Identifier(_segmentsTable)} WHERE job = {ClickHouseSql.Literal(Job)}", cancellationToken);
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

    /// <summary>The synchronous form of <see cref="ClaimAsync"/>, for a consumer's assignment callback.</summary>
    public IReadOnlyDictionary<int, PartitionStart> Claim(string topic, IReadOnlyList<int> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        return ClaimAsync(topic, partitions).GetAwaiter().GetResult();
    }

    /// <summary>
    /// Claims the partitions for a new assignment (waiting out an unavailable ClickHouse as writes do): reads each
    /// one's newest checkpoint, keeps its state for <see cref="TakeRestoredState"/>, and stores it again under a
    /// generation above every stored one. Returns where each partition resumes (-1: its beginning) and the generation.
    /// </summary>
    public async Task<IReadOnlyDictionary<int, PartitionStart>> ClaimAsync(string topic, IReadOnlyList<int> partitions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        if (topic != _topic)
        {
            throw new ArgumentException($"this checkpoint store keeps positions of {_topic}, not {topic}", nameof(topic));
        }

        if (partitions.Count == 0)
        {
            return new Dictionary<int, PartitionStart>();
        }

        // A claim that waits longer would run past the consumer's poll interval: its partitions would move while it
        // still writes, so it stops with the reason instead.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(ClaimTimeout);
        try
        {
            return await ClaimCoreAsync(partitions, bounded.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"claiming partitions {string.Join(',', partitions)} of {_topic} for job {Job} took longer than {ClaimTimeout.TotalMinutes:F0} min: ClickHouse is not answering");
        }
    }

    private async Task<IReadOnlyDictionary<int, PartitionStart>> ClaimCoreAsync(IReadOnlyList<int> partitions, CancellationToken cancellationToken)
    {
        var claims = new Dictionary<int, PartitionStart>();
        var (stored, resolved) = await NewestResolvedAsync(partitions, cancellationToken);
        var rows = new List<PartitionCheckpoint>();
        foreach (var partition in partitions.Distinct())
        {
            if (stored.TryGetValue(partition, out var newest))
            {
                claims[partition] = new PartitionStart(newest.NextOffset, newest.Generation + 1);
                _restorable[(partition, newest.Generation + 1)] = (newest.NextOffset, resolved[partition]);
                // The claim writes the segments again with the claim's time, so they outlive any sweep of the former
                // owner (its checkpoints stop at the fence), even before the new owner's first checkpoint.
                rows.Add(newest with { Generation = newest.Generation + 1, State = resolved[partition] });
            }
            else
            {
                // Nothing stored yet: it starts at its beginning, and offset 0 with no state says so to the next claim.
                claims[partition] = new PartitionStart(-1, 1);
                rows.Add(new PartitionCheckpoint(partition, 0, [], 0) { Generation = 1 });
            }
        }

        await WriteAsync(rows, cancellationToken);
        return claims;
    }

    /// <summary>
    /// Of the partitions held (partition to the generation this process holds it as), those that a newer assignment
    /// has claimed since (another process owns them now), or that a claim of the same generation by another process
    /// won: nothing of theirs may be written by this one.
    /// </summary>
    public async Task<IReadOnlySet<int>> FencedAsync(IReadOnlyDictionary<int, long> held, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(held);
        var fenced = new HashSet<int>();
        if (held.Count == 0)
        {
            return fenced;
        }

        // The server's clock at the check goes with it: a sweep after it deletes only what was written a grace before
        // this moment, however long the process then stalls (a claim that fences it writes its segments after that).
        var output = await _writer.QueryAsync(
            $"SELECT partition, argMax(generation, {NewestFirst}), argMax(owner, {NewestFirst}), toUnixTimestamp64Milli(now64(3)) FROM {ClickHouseSql.Identifier(_table)} WHERE {Where(held.Keys)} GROUP BY partition",
            cancellationToken);
        foreach (var fields in output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t')))
        {
            Interlocked.Exchange(ref _fencedAtServerMs, long.Parse(fields[3], CultureInfo.InvariantCulture));
            var partition = int.Parse(fields[0], CultureInfo.InvariantCulture);
            var newest = (long.Parse(fields[1], CultureInfo.InvariantCulture), uint.Parse(fields[2], CultureInfo.InvariantCulture));
            if (newest.CompareTo((held[partition], _owner)) > 0)
            {
                fenced.Add(partition);
            }
        }

        return fenced;
    }

    /// <summary>
    /// The state of the checkpoint the claim of <paramref name="generation"/> read, once, if it is the one at
    /// <paramref name="offset"/> (states of the partition's earlier claims are dropped); empty when that checkpoint
    /// holds no state, null when this store made no such claim.
    /// </summary>
    public byte[]? TakeRestoredState(int partition, long offset, long generation)
    {
        var found = _restorable.TryGetValue((partition, generation), out var claimed) && claimed.Offset == offset && _restorable.TryRemove((partition, generation), out _)
            ? claimed.State
            : null;
        foreach (var stale in _restorable.Keys.Where(k => k.Partition == partition && k.Generation < generation))
        {
            _restorable.TryRemove(stale, out _);
        }

        return found;
    }

    /// <summary>Stores the partitions' checkpoints under their generations; call only after the results they cover are written.</summary>
    public async Task SaveAsync(Checkpoint checkpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (!checkpoint.IsEmpty)
        {
            // The fence check these partitions passed before this checkpoint (the runner checks before every one).
            var fencedAt = Interlocked.Exchange(ref _fencedAtServerMs, 0);
            await WriteAsync(checkpoint.Partitions, cancellationToken);
            if (fencedAt != 0 && Stopwatch.GetElapsedTime(_lastSweep) >= SegmentSweepInterval)
            {
                _lastSweep = Stopwatch.GetTimestamp();
                await SweepAsync(checkpoint.Partitions, fencedAt, cancellationToken);
            }
        }
    }

    /// <summary>
    /// The grace a sweep keeps: <see cref="SegmentGrace"/>, and never less than <see cref="ClaimTimeout"/>, the longest
    /// a claim may take from writing its segments to writing the row that fences the former owner.
    /// </summary>
    private TimeSpan EffectiveGrace => SegmentGrace > ClaimTimeout ? SegmentGrace : ClaimTimeout;

    /// <summary>How long a sweep may take before it is given up (it is tried again at the next interval).</summary>
    private static readonly TimeSpan SweepTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Partitions per query when segments are read or swept, so the statement stays far below max_query_size.</summary>
    private const int PartitionsPerSegmentQuery = 64;

    /// <summary>
    /// Deletes the segments of these partitions that their newest checkpoints (just stored) do not refer to and that
    /// were written a grace before <paramref name="fencedAtServerMs"/> (the server's clock at the fence check they
    /// passed): those of superseded checkpoints, and those of a write that failed before its checkpoint row. Best
    /// effort: a failure is logged and the next interval tries again; the checkpoint stands.
    /// </summary>
    private async Task SweepAsync(IReadOnlyList<PartitionCheckpoint> newest, long fencedAtServerMs, CancellationToken cancellationToken)
    {
        var cutoff = fencedAtServerMs - (long)EffectiveGrace.TotalMilliseconds;
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(SweepTimeout);
        try
        {
            foreach (var chunk in newest.Chunk(PartitionsPerSegmentQuery))
            {
                var keep = chunk.SelectMany(p => StateSegments.References(p.State).Select(h => $"({p.Partition.ToString(CultureInfo.InvariantCulture)},'{h:x32}')")).ToList();
                var sql = $"DELETE FROM {ClickHouseSql.Identifier(_segmentsTable)} WHERE {Where(chunk.Select(p => p.Partition))} " +
                          $"AND written_at < fromUnixTimestamp64Milli({cutoff.ToString(CultureInfo.InvariantCulture)}, 'UTC')" +
                          (keep.Count > 0 ? $" AND (partition, hash) NOT IN ({string.Join(',', keep)})" : "");
                await _store.ExecuteAsync(sql, bounded.Token);
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // A sweep only frees space: it is tried again at the next interval, the checkpoint stands.
            _warn?.Invoke($"job {Job}: could not delete state segments no checkpoint refers to (tried again in {SegmentSweepInterval.TotalMinutes:F0} min): {e.Message}");
        }
    }

    /// <summary>
    /// The newest stored checkpoint of each partition that has one, and its state with the segments put back. A
    /// segment can only be missing when a newer checkpoint was stored between the two reads (and a sweep followed):
    /// then it reads again.
    /// </summary>
    private async Task<(Dictionary<int, PartitionCheckpoint> Newest, Dictionary<int, byte[]> Resolved)> NewestResolvedAsync(IReadOnlyList<int> partitions, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var newest = await NewestAsync(partitions, cancellationToken);
            var wanted = newest.Values.Where(p => StateSegments.IsSegmented(p.State)).ToList();
            var segments = wanted.Count == 0 ? [] : await SegmentsAsync(wanted, cancellationToken);
            var missing = wanted.Any(p => StateSegments.References(p.State).Any(h => !segments.ContainsKey((p.Partition, h))));
            if (missing && attempt < 5)
            {
                // The newest checkpoint moved on between the two reads: read again (a segment still missing after
                // that is an error Resolve names; a damaged one is one at once).
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), cancellationToken);
                continue;
            }

            var resolved = newest.ToDictionary(p => p.Key, p => StateSegments.Resolve(p.Value.State,
                hash => segments.TryGetValue((p.Key, hash), out var data) ? data : null));
            return (newest, resolved);
        }
    }

    /// <summary>The stored segments the checkpoints refer to, by partition and hash.</summary>
    private async Task<Dictionary<(int Partition, UInt128 Hash), ReadOnlyMemory<byte>?>> SegmentsAsync(IReadOnlyList<PartitionCheckpoint> checkpoints, CancellationToken cancellationToken)
    {
        var found = new Dictionary<(int, UInt128), ReadOnlyMemory<byte>?>();
        foreach (var chunk in checkpoints.Chunk(PartitionsPerSegmentQuery))
        {
            var hashes = chunk.SelectMany(p => StateSegments.References(p.State)).Distinct().Select(h => $"'{h:x32}'").ToList();
            if (hashes.Count == 0)
            {
                continue; // headers alone (every window and id of these partitions expired)
            }

            var output = await _segments.QueryAsync(
                $"SELECT partition, hash, base64Encode(any(data)) FROM {ClickHouseSql.Identifier(_segmentsTable)} " +
                $"WHERE {Where(chunk.Select(p => p.Partition))} AND hash IN ({string.Join(',', hashes)}) GROUP BY partition, hash",
                cancellationToken);
            foreach (var fields in output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t')))
            {
                found[(int.Parse(fields[0], CultureInfo.InvariantCulture), UInt128.Parse(fields[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture))] = Convert.FromBase64String(fields[2]);
            }
        }

        return found;
    }

    /// <summary>The newest stored checkpoint (by generation, then offset) of each partition that has one.</summary>
    private async Task<Dictionary<int, PartitionCheckpoint>> NewestAsync(IReadOnlyList<int> partitions, CancellationToken cancellationToken)
    {
        var output = await _writer.QueryAsync(
            $"SELECT partition, argMax(generation, {NewestFirst}), argMax(next_offset, {NewestFirst}), argMax(watermark, {NewestFirst}), base64Encode(argMax(state, {NewestFirst})) " +
            $"FROM {ClickHouseSql.Identifier(_table)} WHERE {Where(partitions)} GROUP BY partition",
            cancellationToken);
        var newest = new Dictionary<int, PartitionCheckpoint>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            var partition = int.Parse(fields[0], CultureInfo.InvariantCulture);
            newest[partition] = new PartitionCheckpoint(partition, long.Parse(fields[2], CultureInfo.InvariantCulture), Convert.FromBase64String(fields[4]), 0)
            {
                Generation = long.Parse(fields[1], CultureInfo.InvariantCulture),
                WatermarkMs = long.Parse(fields[3], CultureInfo.InvariantCulture),
            };
        }

        return newest;
    }

    private string Where(IEnumerable<int> partitions) =>
        $"job = {ClickHouseSql.Literal(Job)} AND topic = {ClickHouseSql.Literal(_topic)} " +
        $"AND partition IN ({string.Join(',', partitions.Distinct().Select(p => p.ToString(CultureInfo.InvariantCulture)))})";

    private async Task WriteAsync(IReadOnlyList<PartitionCheckpoint> parts, CancellationToken cancellationToken)
    {
        // The segments first: a checkpoint row never refers to a segment that is not stored.
        await WriteSegmentsAsync(parts, cancellationToken);
        parts = [.. parts.Select(p => StateSegments.IsSegmented(p.State) ? p with { State = StateSegments.ToManifest(p.State) } : p)];

        // The states (tens of MiB while catching up) go into reused buffers sized for their total (up to 64 MiB, grown past
        // that); the batch gives them back when disposed.
        var buffers = new ColumnBuffers();
        var state = buffers.Utf8(parts.Count, (int)Math.Min(int.MaxValue, parts.Sum(p => (long)p.State.Length) / Math.Max(1, parts.Count) + 1));
        foreach (var part in parts)
        {
            state.Append(part.State);
        }

        using var batch = buffers.ToBatch(
        [
            ("job", new StringArray.Builder().AppendRange(parts.Select(_ => Job)).Build()),
            ("topic", new StringArray.Builder().AppendRange(parts.Select(_ => _topic)).Build()),
            ("partition", new Int32Array.Builder().AppendRange(parts.Select(p => p.Partition)).Build()),
            ("generation", new UInt32Array.Builder().AppendRange(parts.Select(p => checked((uint)p.Generation))).Build()),
            ("owner", new UInt32Array.Builder().AppendRange(parts.Select(_ => _owner)).Build()),
            ("next_offset", new UInt64Array.Builder().AppendRange(parts.Select(p => (ulong)p.NextOffset)).Build()),
            ("watermark", new Int64Array.Builder().AppendRange(parts.Select(p => p.WatermarkMs)).Build()),
            ("state", state.BuildBinary()),
        ]);
        await _writer.WriteAsync(batch, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Writes the segments the states carry inline. The server stamps them with its time (what a sweep goes by); the
    /// write's random id keeps a block of segments written again (a claim) from being dropped as a repeat of an older one.
    /// </summary>
    private async Task WriteSegmentsAsync(IReadOnlyList<PartitionCheckpoint> parts, CancellationToken cancellationToken)
    {
        var segments = parts.SelectMany(p => StateSegments.Inline(p.State).Select(s => (p.Partition, s.Hash, s.Data))).ToList();
        if (segments.Count == 0)
        {
            return;
        }

        var buffers = new ColumnBuffers();
        var data = buffers.Utf8(segments.Count, (int)Math.Min(int.MaxValue, segments.Sum(s => (long)s.Data.Length) / segments.Count + 1));
        foreach (var segment in segments)
        {
            data.Append(segment.Data.Span);
        }

        var writeId = BitConverter.ToUInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        using var batch = buffers.ToBatch(
        [
            ("job", new StringArray.Builder().AppendRange(segments.Select(_ => Job)).Build()),
            ("topic", new StringArray.Builder().AppendRange(segments.Select(_ => _topic)).Build()),
            ("partition", new Int32Array.Builder().AppendRange(segments.Select(s => s.Partition)).Build()),
            ("hash", new StringArray.Builder().AppendRange(segments.Select(s => s.Hash.ToString("x32", CultureInfo.InvariantCulture))).Build()),
            ("data", data.BuildBinary()),
            ("write_id", new UInt64Array.Builder().AppendRange(segments.Select(_ => writeId)).Build()),
        ]);
        await _segments.WriteAsync(batch, cancellationToken: cancellationToken);
    }
}
