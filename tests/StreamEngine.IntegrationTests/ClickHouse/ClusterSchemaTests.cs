using System.Text.RegularExpressions;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Jobs;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>
/// The schema for a cluster (<c>clickhouse.cluster</c>): no cluster runs here, so every statement the migrator sends
/// is recorded and parsed by ClickHouse's own parser (chDB's <c>formatQuery</c>), and its shape checked: every change
/// ON CLUSTER, no table left unreplicated, declared results behind Distributed tables sharded by their keys, views
/// reading those.
/// </summary>
[Collection(EmbeddedClickHouseCollection.Name)]
public sealed partial class ClusterSchemaTests(EmbeddedClickHouseFixture clickHouse)
{
    [Fact]
    public async Task Every_statement_parses_runs_on_the_cluster_and_leaves_no_table_unreplicated()
    {
        var statements = await RecordClusterSchema();

        var formatted = statements.Select(s => (Sent: s, Parsed: clickHouse.Store.QueryText($"SELECT formatQuerySingleLine({ClickHouseSql.Literal(s)}) FORMAT TabSeparatedRaw").Trim())).ToList();

        var changes = formatted.Where(f => SchemaChange().IsMatch(f.Parsed)).ToList();
        Assert.True(changes.Count >= 20, $"only {changes.Count} schema changes");
        Assert.All(changes, f => Assert.Contains("ON CLUSTER prod", f.Parsed, StringComparison.Ordinal));
        // (The recording store never has a table, so the bookkeeping tables are created once per job: the same statement.)
        var tables = changes.Select(f => f.Parsed).Where(p => p.StartsWith("CREATE TABLE", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        Assert.All(tables, p => Assert.Matches(@"ENGINE = (Replicated\w*MergeTree|Distributed)\(", p));
        // Tables replicated to every server each have a Keeper path of their own.
        var paths = tables.Select(p => Regex.Match(p, @"Replicated\w*MergeTree\('([^']+)'")).Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(paths);
        Assert.Equal(paths.Count, paths.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains("/clickhouse/streamengine/ads/partition_checkpoints_v2", paths);
    }

    [Fact]
    public async Task Declared_results_are_replicated_per_shard_behind_a_Distributed_table_that_the_views_read()
    {
        var parsed = (await RecordClusterSchema()).Select(s => clickHouse.Store.QueryText($"SELECT formatQuerySingleLine({ClickHouseSql.Literal(s)}) FORMAT TabSeparatedRaw").Trim()).ToList();

        var local = Assert.Single(parsed, p => p.StartsWith("CREATE TABLE IF NOT EXISTS ads.campaign_minute_results_local", StringComparison.Ordinal));
        Assert.Contains("ENGINE = ReplicatedReplacingMergeTree(version) ORDER BY (campaign, window_start, source_partition)", local, StringComparison.Ordinal);
        var distributed = Assert.Single(parsed, p => p.StartsWith("CREATE TABLE IF NOT EXISTS ads.campaign_minute_results ", StringComparison.Ordinal));
        Assert.Contains("AS ads.campaign_minute_results_local ENGINE = Distributed('prod', ads, campaign_minute_results_local, cityHash64(campaign))", distributed, StringComparison.Ordinal);
        var breakdown = Assert.Single(parsed, p => p.StartsWith("CREATE TABLE IF NOT EXISTS ads.campaign_breakdown_results ", StringComparison.Ordinal));
        Assert.Contains("cityHash64(campaign, ad, country, device)", breakdown, StringComparison.Ordinal);
        var view = Assert.Single(parsed, p => p.StartsWith("CREATE OR REPLACE VIEW ads.campaign_minute ", StringComparison.Ordinal));
        Assert.Contains("FROM ads.campaign_minute_results GROUP BY", view, StringComparison.Ordinal);
        // New value columns reach both tables.
        Assert.Equal(2, parsed.Count(p => p.StartsWith("ALTER TABLE ads.slot_minute_results", StringComparison.Ordinal) && p.Contains("ADD COLUMN IF NOT EXISTS `floor_count` UInt64", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("CREATE TABLE IF NOT EXISTS {database}.t (x UInt8) ENGINE = Memory")]
    [InlineData("CREATE TABLE IF NOT EXISTS {database}.t (x UInt8, v Int8) ENGINE = VersionedCollapsingMergeTree(v, x) ORDER BY x")]
    [InlineData("CREATE TABLE IF NOT EXISTS {database}.t (a UInt8, b UInt8) ENGINE = SummingMergeTree((a, b)) ORDER BY a")]
    [InlineData("CREATE OR REPLACE TABLE {database}.t (x UInt8) ENGINE = MergeTree ORDER BY x")]
    [InlineData("CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.mv TO {database}.t AS SELECT 1 AS x")]
    [InlineData("DROP TABLE IF EXISTS {database}.t")]
    [InlineData("RENAME TABLE {database}.a TO {database}.b")]
    public void A_statement_that_cannot_be_made_for_the_cluster_is_refused_rather_than_run_on_one_server(string statement)
    {
        var error = Assert.Throws<NotSupportedException>(() => new ClickHouseCluster("prod").Adapt(statement, "ads"));

        Assert.Contains("cluster prod", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_statement_written_for_the_cluster_and_one_that_changes_no_schema_pass_unchanged()
    {
        var cluster = new ClickHouseCluster("prod");
        const string written = "CREATE TABLE IF NOT EXISTS {database}.t ON CLUSTER prod (x UInt8) ENGINE = ReplicatedMergeTree ORDER BY x";
        const string insert = "INSERT INTO {database}.t SELECT 1";

        Assert.Equal(written, cluster.Adapt(written, "ads"));
        Assert.Equal(insert, cluster.Adapt(insert, "ads"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("prod cluster")]
    [InlineData("9lives")]
    [InlineData("a'; DROP TABLE x; --")]
    public void A_cluster_name_that_is_not_one_is_refused(string name) =>
        Assert.Throws<ArgumentException>(() => new ClickHouseCluster(name));

    /// <summary>Every statement a cluster start sends: the engine's migrations and each job's schema, as a new store gets them.</summary>
    private static async Task<IReadOnlyList<string>> RecordClusterSchema()
    {
        var store = new RecordingStore();
        var migrator = new SchemaMigrator(store, "ads", new ClickHouseCluster("prod"));
        await migrator.ApplyAsync(CheckpointStore.Migrations);
        foreach (var (job, tables, steps) in new[]
        {
            (AdMetricsJob.JobName, new AdMetricsJob().ResultSchemas, RawEvents.Schema),
            (BidLandscapeJob.JobName, new BidLandscapeJob().ResultSchemas, []),
            (DynamicPricing.Name, [], DynamicPricing.Schema),
        })
        {
            // As ApplyJobSchemaAsync does, without the check against a store that holds nothing.
            await migrator.ApplyJobAsync(job, [.. tables.Select(t => ResultTableDdl.TableMigration(t, migrator.Cluster)),
                .. tables.Select(t => ResultTableDdl.ViewsMigration(t, migrator.Cluster)), .. steps.Select(s => new JobMigration(s.Name, s.Statements))]);
        }

        return store.Executed;
    }

    [GeneratedRegex(@"^(CREATE|ALTER)\b")]
    private static partial Regex SchemaChange();

    /// <summary>A store that records what it is told and answers as an empty server with room to spare.</summary>
    private sealed class RecordingStore : IClickHouseStore
    {
        public List<string> Executed { get; } = [];

        public string Description => "a recording store";

        public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default)
        {
            Executed.Add(sql);
            return Task.CompletedTask;
        }

        public Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default) =>
            Task.FromResult(sql.Contains("system.disks", StringComparison.Ordinal) ? "1000000000000\n" : sql.StartsWith("EXISTS", StringComparison.Ordinal) ? "0\n" : "");

        public Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default) => Task.FromResult("");

        public Task InsertAsync(string table, Apache.Arrow.RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
