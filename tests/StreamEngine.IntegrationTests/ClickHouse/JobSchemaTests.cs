using PublisherMinute;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Windowing;
using StreamEngine.Jobs;
using StreamEngine.Runtime.Results;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>
/// Declared results tables on the embedded ClickHouse: the DDL the library makes keeps the analysts' contract (every
/// table and view's columns, types and sort keys, against a file written by hand from the schema the jobs had before
/// declarations), a store made by that older schema upgrades in place, the views merge partitions by each value's
/// declared rule (a hand-computed corpus), and the per-job steps are numbered, checked and refused as they should be.
/// </summary>
[Collection(EmbeddedClickHouseCollection.Name)]
public sealed class JobSchemaTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly string Contracts = Path.Combine(RepositoryRoot.Path, "tests", "StreamEngine.IntegrationTests", "ClickHouse", "Contracts");

    [Fact]
    public async Task The_declared_tables_and_views_are_the_contract_s_columns_types_and_sort_keys()
    {
        var database = clickHouse.CreateDatabase("contract");
        await ApplyEveryJobSchema(database);

        Assert.Equal(File.ReadAllText(Path.Combine(Contracts, "ads-schema.tsv")).TrimEnd(), await Describe(database));
    }

    [Fact]
    public async Task A_store_made_by_the_schema_before_declarations_upgrades_in_place_and_keeps_its_rows()
    {
        var database = clickHouse.CreateDatabase("legacy");
        await using var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        await new SchemaMigrator(store, database).ApplyAsync(CheckpointStore.Migrations);
        foreach (var statement in File.ReadAllLines(Path.Combine(Contracts, "legacy-job-schema.sql")).Where(l => l.Length > 0 && !l.StartsWith("--", StringComparison.Ordinal)))
        {
            await store.ExecuteAsync(statement.TrimEnd(';').Replace("{database}", database, StringComparison.Ordinal));
        }

        // Rows as the old engine wrote them (the example's table had no is_final then).
        await store.ExecuteAsync($"INSERT INTO {database}.campaign_minute_results (window_start, campaign, source_partition, bids, wins, impressions, clicks, conversions, " +
                                 "spend_micros, unique_users, version, is_final) VALUES ('2026-11-30 10:00:00', 'c1', 0, 5, 2, 40, 3, 1, 9000, 30, 51, 1), " +
                                 "('2026-11-30 10:00:00', 'c1', 1, 1, 0, 2, 0, 0, 100, 2, 3, 1)");
        await store.ExecuteAsync($"INSERT INTO {database}.publisher_minute_results (window_start, publisher, source_partition, impressions, spend_micros, version) " +
                                 "VALUES ('2026-11-30 10:00:00', 'p1', 0, 7, 700, 7), ('2026-11-30 10:00:00', 'p1', 0, 5, 500, 5)");

        await ApplyEveryJobSchema(database);

        Assert.Equal(File.ReadAllText(Path.Combine(Contracts, "ads-schema.tsv")).TrimEnd(), await Describe(database));
        Assert.Equal("2026-11-30 10:00:00\tc1\t6\t2\t42\t3\t1\t9100\t32", (await store.QueryAsync(
            $"SELECT window_start, campaign, bids, wins, impressions, clicks, conversions, spend_micros, unique_users FROM {database}.campaign_minute")).Trim());
        Assert.Equal("2026-11-30 10:00:00\tp1\t7\t700", (await store.QueryAsync($"SELECT * FROM {database}.publisher_minute")).Trim());
    }

    [Fact]
    public async Task Views_merge_each_partition_s_newest_partial_by_the_declared_rule()
    {
        var database = clickHouse.CreateDatabase("merge");
        await using var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        var table = Probe(withExtra: false);
        await new SchemaMigrator(store, database).ApplyJobSchemaAsync("probe", [table.Schema], []);
        const long w = 1_764_496_800_000; // 2025-11-30 10:00 UTC
        // Key a: partition 0 has two versions (the newer wins), partition 1 saw no samples (left out of the minimum),
        // partition 2's older version carries numbers that must not count. Key b: one partial.
        WindowResult<string, Partial>[] results =
        [
            new("a", w, w + 60_000, new(2, 5, 9, [(1, 2)], [1, 0, 0]), 1, WindowEmission.Early, 0),
            new("a", w, w + 60_000, new(100, 1, 99, [(7, 50)], [9, 9, 9]), 4, WindowEmission.Early, 2),
            new("a", w, w + 60_000, new(0, 0, 0, [], [0, 0, 0]), 2, WindowEmission.Final, 1),
            new("b", w, w + 60_000, new(1, 3, 3, [(9, 1)], [0, 0, 4]), 1, WindowEmission.Final, 0),
        ];
        WindowResult<string, Partial>[] later =
        [
            new("a", w, w + 60_000, new(3, 4, 10, [(1, 2), (2, 1)], [1, 0, 3]), 3, WindowEmission.Final, 0),
            new("a", w, w + 60_000, new(4, 7, 12, [(2, 3), (5, 1)], [0, 2, 1]), 5, WindowEmission.Final, 2),
        ];
        foreach (var batch in new[] { results, later })
        {
            var rows = table.ToRows(batch)!;
            Assert.Equal("probe_results", rows.Table);
            await store.InsertAsync($"{database}.{rows.Table}", rows.Rows, deduplicationToken: null);
        }

        // Hand-computed: a: n 3 + 0 + 4; lo over partitions with n > 0: min(4, 7); hi max(10, 0, 12); buckets added key by
        // key; registers element-wise max; the midpoint from the merged values. b: its one partial.
        Assert.Equal(
            "2025-11-30 10:00:00\ta\t7\t4\t12\t8\t{1:2,2:4,5:1}\t[1,2,3]\n" +
            "2025-11-30 10:00:00\tb\t1\t3\t3\t3\t{9:1}\t[0,0,4]",
            (await store.QueryAsync($"SELECT * FROM {database}.probe ORDER BY k FORMAT TabSeparatedRaw")).Trim());
    }

    [Fact]
    public async Task A_declaration_may_add_a_column_but_a_changed_type_is_refused_naming_the_column()
    {
        var database = clickHouse.CreateDatabase("evolve");
        await using var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        var migrator = new SchemaMigrator(store, database);
        await migrator.ApplyJobSchemaAsync("probe", [Probe(withExtra: false).Schema], []);
        var before = await store.QueryAsync($"SELECT step, name FROM {database}.job_migrations FINAL WHERE job = 'probe' ORDER BY step FORMAT TabSeparatedRaw");

        await migrator.ApplyJobSchemaAsync("probe", [Probe(withExtra: true).Schema], []);

        Assert.Equal("UInt64", (await store.QueryAsync($"SELECT type FROM system.columns WHERE database = '{database}' AND table = 'probe_results' AND name = 'extra'")).Trim());
        Assert.Contains("extra", await store.QueryAsync($"SELECT name FROM system.columns WHERE database = '{database}' AND table = 'probe'"), StringComparison.Ordinal);
        // The same steps, applied again under their numbers.
        Assert.Equal(before, await store.QueryAsync($"SELECT step, name FROM {database}.job_migrations FINAL WHERE job = 'probe' ORDER BY step FORMAT TabSeparatedRaw"));
        // An engine still on the older declaration starts: the newer build's views stay as they are.
        await migrator.ApplyJobSchemaAsync("probe", [Probe(withExtra: false).Schema], []);
        Assert.Contains("extra", await store.QueryAsync($"SELECT name FROM system.columns WHERE database = '{database}' AND table = 'probe'"), StringComparison.Ordinal);

        var retyped = ResultTable.Of<string, Partial>("probe").Key("k", ColumnType.String, k => k).Sum("n", ColumnType.Int64, v => v.N).Build();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => migrator.ApplyJobSchemaAsync("probe", [retyped.Schema], []));
        Assert.Contains("column n is UInt64, declared Int64", error.Message, StringComparison.Ordinal);

        var rekeyed = ResultTable.Of<string, Partial>("probe").Key("k", ColumnType.String, k => k).Part("p", ColumnType.String, _ => "")
            .Sum("n", ColumnType.UInt64, v => v.N).Build();
        error = await Assert.ThrowsAsync<InvalidOperationException>(() => migrator.ApplyJobSchemaAsync("probe", [rekeyed.Schema], []));
        Assert.Contains("column p is missing", error.Message, StringComparison.Ordinal);
        Assert.Contains("sorted by (k, window_start, source_partition), declared (k, window_start, p, source_partition)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Steps_are_numbered_per_job_and_an_applied_step_that_was_edited_is_refused()
    {
        var database = clickHouse.CreateDatabase("steps");
        await using var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        var migrator = new SchemaMigrator(store, database);
        SchemaStep one = new("first table", ["CREATE TABLE IF NOT EXISTS {database}.one (x UInt8) ENGINE = MergeTree ORDER BY x"]);
        SchemaStep two = new("second table", ["CREATE TABLE IF NOT EXISTS {database}.two (x UInt8) ENGINE = MergeTree ORDER BY x"]);

        await migrator.ApplyJobSchemaAsync("job-a", [], [one]);
        await migrator.ApplyJobSchemaAsync("job-b", [], [two]);
        await migrator.ApplyJobSchemaAsync("job-a", [], [one, two]);

        Assert.Equal("job-a\t1\tfirst table\njob-a\t2\tsecond table\njob-b\t1\tsecond table",
            (await store.QueryAsync($"SELECT job, step, name FROM {database}.job_migrations FINAL ORDER BY job, step FORMAT TabSeparatedRaw")).Trim());
        var edited = one with { Statements = ["CREATE TABLE IF NOT EXISTS {database}.one (x UInt16) ENGINE = MergeTree ORDER BY x"] };
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => migrator.ApplyJobSchemaAsync("job-a", [], [edited, two]));
        Assert.Contains("schema step 1 of job job-a (first table) was changed after it was applied", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => migrator.ApplyJobSchemaAsync("job-a", [], [one, one]));
    }

    /// <summary>A partial with every merge rule: a count, a minimum of samples, a maximum, bucket counts, registers.</summary>
    private sealed record Partial(long N, long Lo, long Hi, IReadOnlyList<(int Bucket, long Count)> Buckets, byte[] Registers);

    private static ResultTable<string, Partial> Probe(bool withExtra)
    {
        var table = ResultTable.Of<string, Partial>("probe")
            .Key("k", ColumnType.String, k => k)
            .Sum("n", ColumnType.UInt64, v => v.N)
            .Column("lo", ColumnType.Int64, v => v.Lo, Merge.Min.WherePositive("n"))
            .Column("hi", ColumnType.Int64, v => v.Hi, Merge.Max)
            .Derived("mid", "(lo + hi) / 2")
            .BucketCounts("h", "h_buckets", ColumnType.Int16, "h_counts", v => v.Buckets)
            .Derived("histogram", "mapFromArrays(h.1, h.2)")
            .Registers("u", "u_registers", v => v.Registers)
            .Derived("registers", "u");
        return (withExtra ? table.Sum("extra", ColumnType.UInt64, v => v.N) : table).Build();
    }

    private async Task ApplyEveryJobSchema(string database)
    {
        await using var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        var migrator = new SchemaMigrator(store, database);
        await migrator.ApplyAsync(CheckpointStore.Migrations);
        await migrator.ApplyJobSchemaAsync(AdMetricsJob.JobName, new AdMetricsJob().ResultSchemas, RawEvents.Schema);
        await migrator.ApplyJobSchemaAsync(BidLandscapeJob.JobName, new BidLandscapeJob().ResultSchemas, []);
        var example = new PublisherMinuteJob();
        await migrator.ApplyJobSchemaAsync(example.Name, example.ResultSchemas, example.Schema);
        await migrator.ApplyJobSchemaAsync(DynamicPricing.Name, [], DynamicPricing.Schema);
    }

    private async Task<string> Describe(string database)
    {
        await using var store = new EmbeddedStore(clickHouse.Store, ownsConnection: false);
        const string bookkeeping = "('schema_migrations', 'job_migrations')";
        var columns = await store.QueryAsync(
            $"SELECT table, name, type FROM system.columns WHERE database = '{database}' AND table NOT IN {bookkeeping} ORDER BY table, position FORMAT TabSeparatedRaw");
        var tables = await store.QueryAsync(
            $"SELECT name, engine, sorting_key FROM system.tables WHERE database = '{database}' AND name NOT IN {bookkeeping} ORDER BY name FORMAT TabSeparatedRaw");
        return (columns + tables).TrimEnd();
    }
}
