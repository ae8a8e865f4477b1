using Apache.Arrow;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Host.ClickHouseHttp;
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
        _endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, new ClickHouseHttpOptions { Port = 0 });
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
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(write.IsCompleted, "the write must wait for ClickHouse, not complete or drop the batch");
        Assert.True(writer.Counters.FailedAttempts > 1);

        _endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, new ClickHouseHttpOptions { Port = _port });
        await write.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal("500", (await Store.QueryAsync($"SELECT count() FROM {_db}.results")).Trim());
        Assert.Equal(new WriterCounters(1, 500, writer.Counters.FailedAttempts, writer.Counters.Retries), writer.Counters);
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
    public async Task Checkpoints_are_kept_per_job_and_partition_and_the_furthest_one_wins()
    {
        await new SchemaMigrator(Store, _db).ApplyAsync([CheckpointStore.Migration]);
        var adMetrics = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        var other = new CheckpointStore(Store, _db, "bid-landscape", "ad-events", FastRetries);

        await adMetrics.SaveAsync(new Checkpoint([new(0, 100, [1], 1), new(1, 50, [2], 2)]));
        await adMetrics.SaveAsync(new Checkpoint([new(0, 250, [3], 3)]));
        // A process that lost partition 0 in a rebalance writes its older checkpoint late: it must not win.
        await adMetrics.SaveAsync(new Checkpoint([new(0, 200, [4], 1)]));
        await other.SaveAsync(new Checkpoint([new(0, 7, [5], 1)]));

        var restarted = new CheckpointStore(Store, _db, "ad-metrics", "ad-events", FastRetries);
        Assert.Null(restarted.TakeRestoredState(0, 250));
        var offsets = restarted.ResumeOffsets("ad-events", [0, 1, 2]);
        Assert.Equal(new Dictionary<int, long> { [0] = 250, [1] = 50 }, offsets);
        Assert.Null(restarted.TakeRestoredState(1, 40)); // not the offset partition 1 resumes at
        Assert.Equal([3], restarted.TakeRestoredState(0, 250));
        Assert.Null(restarted.TakeRestoredState(0, 250)); // handed out once
        Assert.Equal([2], restarted.TakeRestoredState(1, 50));
        Assert.Null(restarted.TakeRestoredState(2, 0));
        Assert.Empty(restarted.ResumeOffsets("other-topic", [0]));
    }

    private static RecordBatch Rows(int from, int count) => new RecordBatch.Builder()
        .Append("campaign", false, c => c.String(s => s.AppendRange(Enumerable.Range(from, count).Select(i => $"c{i}"))))
        .Append("impressions", false, c => c.UInt64(s => s.AppendRange(Enumerable.Range(from, count).Select(i => (ulong)i))))
        .Build();
}
