using Apache.Arrow;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Runtime.Ports;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>The sink's writer and checkpoint store against the server store, with ClickHouse failing for a while.</summary>
[Collection(EmbeddedClickHouseCollection.Name)]
public sealed class SinkTests(EmbeddedClickHouseFixture clickHouse) : IAsyncLifetime
{
    private static readonly SinkOptions FastRetries = new() { InitialRetryDelay = TimeSpan.FromMilliseconds(20), MaxRetryDelay = TimeSpan.FromMilliseconds(200), BreakDuration = TimeSpan.FromMilliseconds(500) };
    private ClickHouseHttpEndpoint? _endpoint;
    private int _port;
    private ServerStore Store { get; set; } = null!;
    private string _db = "";

    public async Task InitializeAsync()
    {
        _db = clickHouse.CreateDatabase("sink");
        _endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(0));
        _port = _endpoint.Port;
        Store = new ServerStore(new ServerStoreOptions { Url = _endpoint.Url });
        await Store.ExecuteAsync($"CREATE TABLE {_db}.results (campaign String, impressions UInt64) ENGINE = MergeTree ORDER BY campaign SETTINGS non_replicated_deduplication_window = 1000");
    }

    public async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync();
        }
    }

    [Fact]
    public async Task While_ClickHouse_is_down_a_write_waits_and_lands_once_when_it_is_back()
    {
        var writer = new TableWriter(Store, $"{_db}.results", FastRetries);
        await _endpoint!.DisposeAsync();
        _endpoint = null;

        var write = writer.WriteAsync(Rows(0, 500));
        // Several attempts failed, and the write still waits: it neither completed nor dropped the batch.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (writer.Counters.FailedAttempts < 3 && !write.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no failed attempts while ClickHouse is down: {writer.Counters}");
            await Task.Delay(20);
        }

        Assert.False(write.IsCompleted, $"the write must wait for ClickHouse, not complete or drop the batch: {write.Exception}");

        _endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, StreamEngine.IntegrationTests.ClickHouse.ServerEndpoint.Options(_port));
        await write.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal("500", (await Store.QueryAsync($"SELECT count() FROM {_db}.results")).Trim());
        // One batch of 500 rows; every failed attempt was retried (and more while the circuit was open); no stall left.
        var counters = writer.Counters;
        Assert.Equal((1L, 500L), (counters.Batches, counters.Rows));
        Assert.True(counters.FailedAttempts > 1 && counters.Retries >= counters.FailedAttempts, $"{counters}");
        Assert.Null(counters.Stall);
    }

    [Fact]
    public async Task A_batch_that_arrived_but_whose_reply_was_lost_is_not_written_twice()
    {
        var writer = new TableWriter(Store, $"{_db}.results", FastRetries);

        await writer.WriteAsync(Rows(0, 300));
        await writer.WriteAsync(Rows(0, 300)); // the same block again, as a retry after a lost reply sends it
        await writer.WriteAsync(Rows(300, 10));

        Assert.Equal("310", (await Store.QueryAsync($"SELECT count() FROM {_db}.results")).Trim());
    }

    [Fact]
    public async Task A_permanent_error_stops_at_once_instead_of_retrying()
    {
        var writer = new TableWriter(Store, $"{_db}.no_such_table", FastRetries);

        var error = await Assert.ThrowsAsync<ClickHouseException>(() => writer.WriteAsync(Rows(0, 1)));

        Assert.Equal("UNKNOWN_TABLE", error.ErrorName);
        Assert.Equal(0, writer.Counters.Retries);
    }

    [Fact]
    public async Task A_block_sent_again_is_dropped_even_by_a_table_created_without_a_deduplication_window()
    {
        // As the jobs' results tables are declared: a plain ReplacingMergeTree, no deduplication setting.
        await Store.ExecuteAsync($"CREATE TABLE {_db}.partials (campaign String, impressions UInt64) ENGINE = ReplacingMergeTree ORDER BY campaign");
        var options = FastRetries with { DropRepeatedBlocks = true };
        var writer = new TableWriter(Store, $"{_db}.partials", options);

        await writer.WriteAsync(Rows(0, 3));
        await new TableWriter(Store, $"{_db}.partials", options).WriteAsync(Rows(0, 3)); // a retry after a lost reply, or a replay
        await writer.WriteAsync(Rows(10, 2)); // other content: kept
        Assert.Equal("5", (await Store.QueryAsync($"SELECT count() FROM {_db}.partials")).Trim());

        // A table where writing the same rows again is a change (a budget set back) keeps every block by default.
        await Store.ExecuteAsync($"CREATE TABLE {_db}.settings (campaign String, impressions UInt64) ENGINE = MergeTree ORDER BY campaign");
        var plain = new TableWriter(Store, $"{_db}.settings", FastRetries);
        await plain.WriteAsync(Rows(0, 1));
        await plain.WriteAsync(Rows(0, 1));
        Assert.Equal("2", (await Store.QueryAsync($"SELECT count() FROM {_db}.settings")).Trim());
    }

    [Fact]
    public async Task Checkpoints_are_kept_per_job_and_partition_and_the_newest_generation_wins_over_a_further_offset()
    {
        await new SchemaMigrator(Store, _db).ApplyAsync(CheckpointStore.Migrations);
        var first = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        var other = new CheckpointStore(Store, _db, "bid-landscape", "ad-events", FastRetries);

        Assert.Equal(new Dictionary<int, PartitionStart> { [0] = new(-1, 1), [1] = new(-1, 1) }, await first.ClaimAsync("ad-events", [0, 1]));
        await first.SaveAsync(new Checkpoint([new(0, 100, [1], 1) { Generation = 1 }, new(1, 50, [2], 2) { Generation = 1 }]));
        await other.ClaimAsync("ad-events", [0]);
        await other.SaveAsync(new Checkpoint([new(0, 7, [5], 1) { Generation = 1 }]));

        // Partition 0 moves to a second process, which claims it before reading anything.
        var second = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        Assert.Equal(new Dictionary<int, PartitionStart> { [0] = new(100, 2) }, await second.ClaimAsync("ad-events", [0]));
        Assert.Null(second.TakeRestoredState(0, 90, 2)); // not the offset that claim read
        Assert.Equal([1], second.TakeRestoredState(0, 100, 2));
        Assert.Null(second.TakeRestoredState(0, 100, 2)); // handed out once

        // The first process, paused through the move, still thinks it holds partition 0 and read further.
        Assert.Equal([0], (await first.FencedAsync(new Dictionary<int, long> { [0] = 1, [1] = 1 })).Order());
        await first.SaveAsync(new Checkpoint([new(0, 300, [9], 5) { Generation = 1 }]));
        await Store.ExecuteAsync($"OPTIMIZE TABLE {_db}.{CheckpointStore.TableName} FINAL"); // merges keep what readers pick

        var third = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        var claims = await third.ClaimAsync("ad-events", [0, 1, 2]);
        Assert.Equal(new Dictionary<int, PartitionStart> { [0] = new(100, 3), [1] = new(50, 2), [2] = new(-1, 1) }, claims);
        Assert.Equal([1], third.TakeRestoredState(0, 100, 3));
        Assert.Equal([2], third.TakeRestoredState(1, 50, 2));
        Assert.Empty(await third.FencedAsync(new Dictionary<int, long> { [0] = 3, [1] = 2 }));
        Assert.Equal([0], (await second.FencedAsync(new Dictionary<int, long> { [0] = 2 })).Order());
        await Assert.ThrowsAsync<ArgumentException>(() => third.ClaimAsync("other-topic", [0]));
    }

    [Fact]
    public async Task A_partition_claimed_twice_before_its_first_assignment_is_handled_restores_each_claims_state()
    {
        await new SchemaMigrator(Store, _db).ApplyAsync(CheckpointStore.Migrations);
        var store = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        await store.ClaimAsync("ad-events", [4]);
        await store.SaveAsync(new Checkpoint([new(4, 60, [6], 1) { Generation = 1 }]));

        // Assigned, lost and assigned again while the pipeline was still busy: both claims read the same checkpoint.
        Assert.Equal(new PartitionStart(60, 2), (await store.ClaimAsync("ad-events", [4]))[4]);
        Assert.Equal(new PartitionStart(60, 3), (await store.ClaimAsync("ad-events", [4]))[4]);
        Assert.Equal([6], store.TakeRestoredState(4, 60, 2));
        Assert.Equal([6], store.TakeRestoredState(4, 60, 3)); // the second assignment is restored too, not started empty

        // A claim overtaken before its assignment was handled is dropped once a newer one is taken.
        await store.ClaimAsync("ad-events", [4]);
        await store.ClaimAsync("ad-events", [4]);
        Assert.Equal([6], store.TakeRestoredState(4, 60, 5));
        Assert.Null(store.TakeRestoredState(4, 60, 4));
    }

    [Fact]
    public async Task Two_claims_that_read_the_same_generation_at_once_leave_exactly_one_owner()
    {
        await new SchemaMigrator(Store, _db).ApplyAsync(CheckpointStore.Migrations);
        var before = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        await before.ClaimAsync("ad-events", [7]);
        await before.SaveAsync(new Checkpoint([new(7, 10, [7], 1) { Generation = 1 }]));

        // One claim stalled past the consumer's poll interval, the partition moved and was claimed meanwhile: both
        // read generation 1 and both write generation 2.
        // Each claim's writes wait until both have read, so neither sees the other's generation whatever the timing.
        var bothRead = new ReadsBeforeWrites(Store, reads: 2);
        var stalled = new CheckpointStore(bothRead, _db, "ad-metrics", "ad-events", FastRetries);
        var moved = new CheckpointStore(bothRead, _db, "ad-metrics", "ad-events", FastRetries);
        var claims = await Task.WhenAll(stalled.ClaimAsync("ad-events", [7]), moved.ClaimAsync("ad-events", [7]));
        Assert.All(claims, c => Assert.Equal(new PartitionStart(10, 2), c[7]));

        var fenced = await Task.WhenAll(stalled.FencedAsync(new Dictionary<int, long> { [7] = 2 }), moved.FencedAsync(new Dictionary<int, long> { [7] = 2 }));
        Assert.Equal(1, fenced.Count(f => f.Contains(7)));
    }

    [Fact]
    public async Task Checkpoints_stored_before_generations_are_resumed_after_the_upgrade()
    {
        var migrator = new SchemaMigrator(Store, _db);
        await migrator.ApplyAsync(CheckpointStore.Migrations.Take(1));
        await Store.ExecuteAsync($"INSERT INTO {_db}.partition_checkpoints (job, topic, partition, next_offset, state) VALUES " +
                                 "('ad-metrics', 'ad-events', 3, 40, 'a'), ('ad-metrics', 'ad-events', 3, 90, 'b')");

        await migrator.ApplyAsync(CheckpointStore.Migrations);

        var store = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        Assert.Equal(new Dictionary<int, PartitionStart> { [3] = new(90, 1) }, await store.ClaimAsync("ad-events", [3]));
        Assert.Equal("b"u8.ToArray(), store.TakeRestoredState(3, 90, 1));
    }

    [Fact]
    public async Task State_segments_are_written_once_read_back_by_a_claim_and_swept_when_no_newest_checkpoint_refers_to_them()
    {
        await new SchemaMigrator(Store, _db).ApplyAsync(CheckpointStore.Migrations);
        var owner = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries) { SegmentSweepInterval = TimeSpan.Zero };
        await owner.ClaimAsync("ad-events", [0]);
        byte[] a = [1, 1, 1], b = [2, 2], c = [3, 3, 3, 3], old = [4];
        await owner.SaveAsync(new Checkpoint([new(0, 10, Segmented([9], (a, true), (b, true)), 1) { Generation = 1 }]));
        // An hour ago: a copy of a, and a segment of a checkpoint whose row was never written.
        foreach (var segment in new[] { a, old })
        {
            await Store.ExecuteAsync($"INSERT INTO {_db}.{CheckpointStore.SegmentsTableName} (job, topic, partition, hash, data, write_id, written_at) " +
                                     $"SELECT 'ad-metrics', 'ad-events', 0, '{Core.State.StateSegments.HashOf(segment):x32}', unhex('{Convert.ToHexString(segment)}'), 1, now64(3) - INTERVAL 1 HOUR");
        }

        // The next checkpoint refers to a by hash, drops b and carries the new c.
        await owner.FencedAsync(new Dictionary<int, long> { [0] = 1 });
        await owner.SaveAsync(new Checkpoint([new(0, 20, Segmented([8], (a, false), (c, true)), 2) { Generation = 1 }]));

        // The sweep deleted what no newest checkpoint refers to and is older than the grace (10 min): the old orphan.
        // b is unreferenced but young (a checkpoint row may still be on its way), a and c are referred to.
        Assert.Equal(Hashes(a, b, c), await StoredSegmentsAsync());
        Assert.Equal("1", (await Store.QueryAsync($"SELECT count() FROM {_db}.{CheckpointStore.SegmentsTableName} WHERE written_at < now64(3) - INTERVAL 30 MINUTE")).Trim());
        // The checkpoint row holds hashes, not the bytes.
        var row = (await Store.QueryAsync($"SELECT length(state) FROM {_db}.{CheckpointStore.TableName} WHERE next_offset = 20")).Trim();
        Assert.Equal(Segmented([8], (a, false), (c, false)).Length.ToString(System.Globalization.CultureInfo.InvariantCulture), row);

        // The next owner's claim puts the segments back, and writes them again under its own time.
        var beforeClaim = (await Store.QueryAsync("SELECT toUnixTimestamp64Milli(now64(3))")).Trim();
        var next = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        Assert.Equal(new PartitionStart(20, 2), (await next.ClaimAsync("ad-events", [0]))[0]);
        Assert.Equal(Segmented([8], (a, true), (c, true)), next.TakeRestoredState(0, 20, 2));
        Assert.Equal("2", (await Store.QueryAsync(
            $"SELECT count() FROM (SELECT hash FROM {_db}.{CheckpointStore.SegmentsTableName} GROUP BY hash HAVING toUnixTimestamp64Milli(max(written_at)) >= {beforeClaim})")).Trim());

        // A segment the store lost is an error that names it: never a state restored without it.
        await Store.ExecuteAsync($"DELETE FROM {_db}.{CheckpointStore.SegmentsTableName} WHERE hash = '{Core.State.StateSegments.HashOf(c):x32}'");
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries).ClaimAsync("ad-events", [0]));
        Assert.Contains($"{Core.State.StateSegments.HashOf(c):x32}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sweep_spares_segments_written_after_the_fence_check_it_follows_however_late_it_runs()
    {
        await new SchemaMigrator(Store, _db).ApplyAsync(CheckpointStore.Migrations);
        await new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries).ClaimAsync("ad-events", [0]);
        var owner = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries) { SegmentGrace = TimeSpan.Zero, ClaimTimeout = TimeSpan.FromMilliseconds(1), SegmentSweepInterval = TimeSpan.Zero };
        byte[] mine = [4, 4], theirs = [5, 5, 5];
        await owner.FencedAsync(new Dictionary<int, long> { [0] = 1 });

        // The owner stalls after its fence check; meanwhile a new owner's claim writes its segments (before its row).
        await Task.Delay(50);
        var newOwner = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        await newOwner.SaveAsync(new Checkpoint([new(0, 5, Segmented([1], (theirs, true)), 1) { Generation = 9 }]));
        await Task.Delay(50);

        // The owner wakes and checkpoints: its sweep deletes only what was written before its fence check.
        await owner.SaveAsync(new Checkpoint([new(0, 30, Segmented([2], (mine, true)), 1) { Generation = 1 }]));
        Assert.Equal(Hashes(mine, theirs), await StoredSegmentsAsync());
    }

    [Fact]
    public async Task Claims_read_back_the_segments_of_many_partitions_at_once()
    {
        await new SchemaMigrator(Store, _db).ApplyAsync(CheckpointStore.Migrations);
        var partitions = Enumerable.Range(0, 150).ToList();
        var owner = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        await owner.ClaimAsync("ad-events", partitions);
        byte[] State(int p) => Segmented([(byte)p], ([1, (byte)p], true), ([2, (byte)p, 0], true), ([3], true));
        await owner.SaveAsync(new Checkpoint([.. partitions.Select(p => new PartitionCheckpoint(p, 100 + p, State(p), 1) { Generation = 1 })]));

        var next = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        var claims = await next.ClaimAsync("ad-events", partitions);
        Assert.All(partitions, p => Assert.Equal(State(p), next.TakeRestoredState(p, claims[p].Offset, claims[p].Generation)));
    }

    /// <summary>Holds every insert until <c>reads</c> claims have read the newest checkpoints: two claims that both read before either writes.</summary>
    private sealed class ReadsBeforeWrites(IClickHouseStore inner, int reads) : IClickHouseStore
    {
        private readonly TaskCompletionSource _allRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _reads;

        public string Description => inner.Description;

        public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default) => inner.ExecuteAsync(sql, cancellationToken);

        public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default)
        {
            var answer = await inner.QueryAsync(sql, cancellationToken);
            // Only a claim's read of the newest checkpoints counts (not a writer's look at the table's settings).
            if (sql.Contains("argMax(next_offset", StringComparison.Ordinal) && Interlocked.Increment(ref _reads) >= reads)
            {
                _allRead.TrySetResult();
            }

            return answer;
        }

        public Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default) => inner.QueryJsonRowsAsync(sql, cancellationToken);

        public async Task InsertAsync(string table, RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default)
        {
            await _allRead.Task.WaitAsync(TimeSpan.FromMinutes(1), cancellationToken);
            await inner.InsertAsync(table, batch, deduplicationToken, logComment, cancellationToken);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private async Task<string[]> StoredSegmentsAsync() =>
        (await Store.QueryAsync($"SELECT DISTINCT hash FROM {_db}.{CheckpointStore.SegmentsTableName} ORDER BY hash")).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static string[] Hashes(params byte[][] segments) => [.. segments.Select(s => $"{Core.State.StateSegments.HashOf(s):x32}").Order(StringComparer.Ordinal)];

    /// <summary>A state in segments (<see cref="Core.State.StateSegments"/>'s layout), each inline or as its hash.</summary>
    private static byte[] Segmented(byte[] header, params (byte[] Data, bool Inline)[] segments)
    {
        using var bytes = new MemoryStream();
        using var writer = new BinaryWriter(bytes);
        writer.Write(Core.State.StateSegments.Format);
        writer.Write(header.Length);
        writer.Write(header);
        writer.Write(segments.Length);
        foreach (var (data, inline) in segments)
        {
            var hash = Core.State.StateSegments.HashOf(data);
            writer.Write((ulong)(hash >> 64));
            writer.Write((ulong)hash);
            writer.Write(inline ? data.Length : -1);
            if (inline)
            {
                writer.Write(data);
            }
        }

        writer.Flush();
        return bytes.ToArray();
    }

    private static RecordBatch Rows(int from, int count) => new RecordBatch.Builder()
        .Append("campaign", false, c => c.String(s => s.AppendRange(Enumerable.Range(from, count).Select(i => $"c{i}"))))
        .Append("impressions", false, c => c.UInt64(s => s.AppendRange(Enumerable.Range(from, count).Select(i => (ulong)i))))
        .Build();
}
