using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>
/// One behaviour, two stores: every test here runs against the embedded store and against the server store (over
/// the engine's ClickHouse HTTP endpoint, or a real server when CLICKHOUSE_URL is set).
/// </summary>
public abstract class StoreContractTests(EmbeddedClickHouseFixture clickHouse) : IAsyncLifetime
{
    protected EmbeddedClickHouseFixture ClickHouse => clickHouse;

    protected IClickHouseStore Store { get; set; } = null!;

    private string _db = "";

    public virtual Task InitializeAsync()
    {
        _db = clickHouse.CreateDatabase(GetType().Name.ToLowerInvariant());
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    [Fact]
    public async Task Arrow_batches_land_with_their_types_and_values()
    {
        await Store.ExecuteAsync($"CREATE TABLE {_db}.results (window_start DateTime64(3, 'UTC'), campaign String, impressions UInt64, spend_micros Int64, ctr Float64) ENGINE = MergeTree ORDER BY (window_start, campaign)");

        await Store.InsertAsync($"{_db}.results", Batch(0, 1000), deduplicationToken: null);

        Assert.Equal("1000\t10\t499500\t999000\t2026-11-26 00:00:00.000", (await Store.QueryAsync(
            $"SELECT count(), uniqExact(campaign), sum(impressions), sum(spend_micros), toString(min(window_start)) FROM {_db}.results")).Trim());
    }

    [Fact]
    public async Task A_block_sent_again_with_the_same_token_is_dropped()
    {
        await Store.ExecuteAsync($"CREATE TABLE {_db}.deduped (window_start DateTime64(3, 'UTC'), campaign String, impressions UInt64, spend_micros Int64, ctr Float64) " +
                                 "ENGINE = MergeTree ORDER BY campaign SETTINGS non_replicated_deduplication_window = 1000");

        await Store.InsertAsync($"{_db}.deduped", Batch(0, 100), "job/partition-3/offsets-0-100");
        await Store.InsertAsync($"{_db}.deduped", Batch(0, 100), "job/partition-3/offsets-0-100");
        await Store.InsertAsync($"{_db}.deduped", Batch(100, 100), "job/partition-3/offsets-100-200");

        Assert.Equal("200", (await Store.QueryAsync($"SELECT count() FROM {_db}.deduped")).Trim());
    }

    [Fact]
    public async Task Errors_carry_ClickHouse_code_and_name()
    {
        var error = await Assert.ThrowsAsync<ClickHouseException>(() => Store.QueryAsync("SELECT * FROM no_db_here.no_table"));

        Assert.Equal(81, error.Code);
        Assert.Equal("UNKNOWN_DATABASE", error.ErrorName);
    }

    [Fact]
    public async Task Migrations_apply_once_in_order_and_a_changed_one_is_refused()
    {
        var database = $"{_db}_migrated";
        var migrator = new SchemaMigrator(Store, database);
        var first = new Migration(1, "results", ["CREATE TABLE IF NOT EXISTS {database}.r (k String, v UInt64) ENGINE = MergeTree ORDER BY k"]);
        var second = new Migration(2, "view", ["CREATE VIEW IF NOT EXISTS {database}.r_view AS SELECT k, sum(v) AS v FROM {database}.r GROUP BY k"]);

        Assert.Equal([1], (await migrator.ApplyAsync([first])).Select(m => m.Version));
        Assert.Empty(await migrator.ApplyAsync([first]));
        Assert.Equal([2], (await migrator.ApplyAsync([second, first])).Select(m => m.Version));
        await Store.ExecuteAsync($"INSERT INTO `{database}`.r VALUES ('a', 1), ('a', 2)");
        Assert.Equal("a\t3", (await Store.QueryAsync($"SELECT * FROM `{database}`.r_view")).Trim());

        var edited = first with { Statements = ["CREATE TABLE IF NOT EXISTS {database}.r (k String) ENGINE = MergeTree ORDER BY k"] };
        var refusal = await Assert.ThrowsAsync<InvalidOperationException>(() => migrator.ApplyAsync([edited, second]));
        Assert.Contains("migration 1 (results) was changed after it was applied", refusal.Message, StringComparison.Ordinal);
    }

    private static RecordBatch Batch(int from, int count)
    {
        var rows = Enumerable.Range(from, count).ToArray();
        var start = new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);
        var timestamps = new TimestampArray.Builder(new TimestampType(TimeUnit.Millisecond, "UTC"));
        foreach (var i in rows)
        {
            timestamps.Append(start.AddMinutes(i % 3));
        }

        return new RecordBatch.Builder()
            .Append("window_start", false, timestamps.Build())
            .Append("campaign", false, c => c.String(s => s.AppendRange(rows.Select(i => $"cmp-{i % 10}"))))
            .Append("impressions", false, c => c.UInt64(s => s.AppendRange(rows.Select(i => (ulong)i))))
            .Append("spend_micros", false, c => c.Int64(s => s.AppendRange(rows.Select(i => (long)i * 2))))
            .Append("ctr", false, c => c.Double(s => s.AppendRange(rows.Select(i => i / 1000.0))))
            .Build();
    }
}

[Collection(EmbeddedClickHouseCollection.Name)]
public sealed class EmbeddedStoreTests(EmbeddedClickHouseFixture clickHouse) : StoreContractTests(clickHouse)
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Store = new EmbeddedStore(ClickHouse.Store, ownsConnection: false);
    }
}

[Collection(EmbeddedClickHouseCollection.Name)]
public sealed class ServerStoreTests(EmbeddedClickHouseFixture clickHouse) : StoreContractTests(clickHouse)
{
    private ClickHouseHttpEndpoint? _endpoint;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var url = Environment.GetEnvironmentVariable("CLICKHOUSE_URL");
        if (url is null)
        {
            _endpoint = await ClickHouseHttpEndpoint.StartAsync(ClickHouse.Store, new ClickHouseHttpOptions { Port = 0, Users = [ClickHouseUser.WithPassword("writer", "pw", ClickHouseRole.Admin)] });
            Store = new ServerStore(new ServerStoreOptions { Url = _endpoint.Url, User = "writer", Password = "pw" });
        }
        else
        {
            Store = new ServerStore(new ServerStoreOptions
            {
                Url = new Uri(url),
                User = Environment.GetEnvironmentVariable("CLICKHOUSE_USER") ?? "default",
                Password = Environment.GetEnvironmentVariable("CLICKHOUSE_PASSWORD") ?? "",
            });
        }
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync();
        }
    }
}
