using System.Security.Cryptography;
using System.Text;
using StreamEngine.Runtime.Results;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>
/// One versioned schema change: statements run in order, each idempotent (<c>IF NOT EXISTS</c>), with
/// <c>{database}</c> standing for the configured database.
/// </summary>
public sealed record Migration(int Version, string Name, IReadOnlyList<string> Statements)
{
    /// <summary>Identifies the statements as written: a migration changed after it was applied is refused.</summary>
    public string Checksum => SchemaMigrator.ChecksumOf(Statements);
}

/// <summary>
/// One named schema step of a job; the library numbers a job's steps in the order they are first applied, so a job
/// author never picks a number and two jobs cannot collide. A step changed after it was applied is refused, unless
/// it is <paramref name="Reapplicable"/> (idempotent and only adding, as the steps of declared results tables are):
/// then it is applied again.
/// </summary>
public sealed record JobMigration(string Name, IReadOnlyList<string> Statements, bool Reapplicable = false)
{
    /// <summary>Whether the statements are written for the migrator's cluster already (declared tables' DDL), not to be adapted.</summary>
    public bool ForCluster { get; init; }

    public string Checksum => SchemaMigrator.ChecksumOf(Statements);
}

/// <summary>
/// Applies migrations once each, in version order, recording them in <c>{database}.schema_migrations</c>. Safe to
/// run on every start and from several engines at once: statements are idempotent and the record is a
/// ReplacingMergeTree keyed by version.
/// </summary>
public sealed class SchemaMigrator(IClickHouseStore store, string database = "ads", ClickHouseCluster? cluster = null)
{
    public string Database { get; } = database;

    /// <summary>The cluster the schema is made on (every statement ON CLUSTER, tables replicated), or null for one server.</summary>
    public ClickHouseCluster? Cluster { get; } = cluster;

    /// <summary>Identifies statements as written (a migration's or a job step's), to tell an edited one.</summary>
    public static string ChecksumOf(IReadOnlyList<string> statements) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n;\n", statements))))[..16];

    /// <summary>A statement as it runs here: the database filled in, and adapted to the cluster when there is one.</summary>
    private string Prepare(string statement, string db) =>
        (Cluster is null ? statement : Cluster.Adapt(statement, Database)).Replace("{database}", db, StringComparison.Ordinal);

    /// <summary>Applies what is missing; returns the migrations applied now.</summary>
    public async Task<IReadOnlyList<Migration>> ApplyAsync(IEnumerable<Migration> migrations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(migrations);
        var ordered = migrations.OrderBy(m => m.Version).ToList();
        var duplicate = ordered.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"two migrations have version {duplicate.Key}", nameof(migrations));
        }

        var db = ClickHouseSql.Identifier(Database);
        // Schema changes only with room for them (SchemaChangeSafety); a store that needs none starts on a full disk.
        await EnsureRecordTableAsync("schema_migrations", "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) " +
            "ENGINE = ReplacingMergeTree ORDER BY version", cancellationToken);
        var applied = (await store.QueryAsync($"SELECT version, argMax(checksum, applied_at) FROM {db}.schema_migrations GROUP BY version", cancellationToken))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(f => int.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture), f => f[1]);

        var now = new List<Migration>();
        foreach (var migration in ordered)
        {
            if (applied.TryGetValue(migration.Version, out var checksum))
            {
                if (checksum != migration.Checksum)
                {
                    throw new InvalidOperationException(
                        $"schema migration {migration.Version} ({migration.Name}) was changed after it was applied to {store.Description}; add a new migration instead of editing an applied one");
                }

                continue;
            }

            await SchemaChangeSafety.ThrowIfDiskNearlyFullAsync(store, $"migration {migration.Version} ({migration.Name})", cancellationToken);
            foreach (var statement in migration.Statements)
            {
                await store.ExecuteAsync(Prepare(statement, db), cancellationToken);
            }

            await store.ExecuteAsync(
                // INSERT ... SELECT: servers that read VALUES as literals only (the engine's own endpoint) take it too.
                $"INSERT INTO {db}.schema_migrations SELECT {migration.Version}, {ClickHouseSql.Literal(migration.Name)}, {ClickHouseSql.Literal(migration.Checksum)}, now64(3)",
                cancellationToken);
            now.Add(migration);
        }

        return now;
    }

    /// <summary>
    /// A job's whole schema: its declared results tables (from <see cref="ResultTableDdl"/>), each checked against the
    /// store (<see cref="VerifyAsync"/>) before their views are made, then the job's own named steps.
    /// </summary>
    public async Task ApplyJobSchemaAsync(string job, IEnumerable<ResultTableSchema> tables, IEnumerable<Core.Dsl.SchemaStep> steps, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(steps);
        var declared = tables.Select(t => (Table: t, Create: ResultTableDdl.TableMigration(t, Cluster), Views: ResultTableDdl.ViewsMigration(t, Cluster))).ToList();
        var own = steps.Select(s => new JobMigration(s.Name, s.Statements)).ToList();
        var names = declared.SelectMany(d => new[] { d.Create, d.Views }).Concat(own).Select(m => m.Name);
        if (names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            throw new ArgumentException($"job {job} has two schema steps named '{duplicate.Key}'", nameof(steps));
        }

        await ApplyJobAsync(job, [.. declared.Select(d => d.Create)], cancellationToken);
        var views = new List<JobMigration>();
        foreach (var (table, _, tableViews) in declared)
        {
            // A table with columns this declaration lacks was declared by a newer build (one engine upgraded before
            // another): its views stay as that build made them, rather than flip back and forth between versions.
            if ((await VerifyAsync(table, cancellationToken)).Count == 0)
            {
                views.Add(tableViews);
            }
        }

        await ApplyJobAsync(job, [.. views, .. own], cancellationToken);
    }

    /// <summary>
    /// Applies the job's steps that are new or (if reapplicable) changed, recording each in
    /// <c>{database}.job_migrations</c> under the job's name with its number; returns the steps applied now.
    /// </summary>
    public async Task<IReadOnlyList<JobMigration>> ApplyJobAsync(string job, IEnumerable<JobMigration> steps, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(job);
        ArgumentNullException.ThrowIfNull(steps);
        var ordered = steps.ToList();
        var duplicate = ordered.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"job {job} has two schema steps named '{duplicate.Key}'", nameof(steps));
        }

        var db = ClickHouseSql.Identifier(Database);
        await EnsureRecordTableAsync("job_migrations", "(job String, step UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) " +
            "ENGINE = ReplacingMergeTree(applied_at) ORDER BY (job, name)", cancellationToken);

        var applied = (await store.QueryAsync(
                $"SELECT hex(name), argMax(step, applied_at), argMax(checksum, applied_at) FROM {db}.job_migrations WHERE job = {ClickHouseSql.Literal(job)} GROUP BY name",
                cancellationToken))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(f => Unhex(f[0]), f => (Step: int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture), Checksum: f[2]), StringComparer.Ordinal);
        var next = applied.Count == 0 ? 1 : applied.Values.Max(a => a.Step) + 1;

        var now = new List<JobMigration>();
        foreach (var step in ordered)
        {
            var number = next;
            if (applied.TryGetValue(step.Name, out var record))
            {
                if (record.Checksum == step.Checksum)
                {
                    continue;
                }

                if (!step.Reapplicable)
                {
                    throw new InvalidOperationException(
                        $"schema step {record.Step} of job {job} ({step.Name}) was changed after it was applied to {store.Description}; add a new step instead of editing an applied one");
                }

                number = record.Step;
            }
            else
            {
                next++;
            }

            await SchemaChangeSafety.ThrowIfDiskNearlyFullAsync(store, $"schema step {number} of job {job} ({step.Name})", cancellationToken);
            foreach (var statement in step.Statements)
            {
                // Declared tables' steps are made for the cluster already; a job's own steps are adapted here.
                await store.ExecuteAsync(step.ForCluster ? statement.Replace("{database}", db, StringComparison.Ordinal) : Prepare(statement, db), cancellationToken);
            }

            await store.ExecuteAsync(
                $"INSERT INTO {db}.job_migrations SELECT {ClickHouseSql.Literal(job)}, {number}, {ClickHouseSql.Literal(step.Name)}, {ClickHouseSql.Literal(step.Checksum)}, now64(3)",
                cancellationToken);
            now.Add(step);
        }

        return now;
    }

    /// <summary>
    /// Checks a declared results table against the store: every declared column there with the declared type, and the
    /// declared sort key. What the steps cannot do by adding (a type or key changed, a table made by something else) is
    /// refused here with what differs, before a write could fail or land wrong.
    /// </summary>
    /// <returns>The table's columns the declaration does not have (a newer declaration's), empty when none.</returns>
    public async Task<IReadOnlyList<string>> VerifyAsync(ResultTableSchema table, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        var where = $"database = {ClickHouseSql.Literal(Database)} AND table = {ClickHouseSql.Literal(table.Table)}";
        // Text in hex: stores escape a type's quotes differently (the server's reader not at all, chDB's TSV with backslashes).
        var stored = (await store.QueryAsync($"SELECT hex(name), hex(type) FROM system.columns WHERE {where}", cancellationToken))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(f => Unhex(f[0]), f => Unhex(f[1]), StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var (name, type) in ResultTableDdl.Columns(table))
        {
            if (!stored.TryGetValue(name, out var actual))
            {
                problems.Add($"column {name} is missing");
            }
            else if (actual != type)
            {
                problems.Add($"column {name} is {actual}, declared {type}");
            }
        }

        var sortKey = string.Join(", ", ResultTableDdl.SortKey(table));
        var actualKey = Unhex((await store.QueryAsync(
            $"SELECT hex(sorting_key) FROM system.tables WHERE database = {ClickHouseSql.Literal(Database)} AND name = {ClickHouseSql.Literal(ResultTableDdl.StorageTable(table, Cluster))}",
            cancellationToken)).Trim());
        if (stored.Count > 0 && actualKey != sortKey)
        {
            problems.Add($"it is sorted by ({actualKey}), declared ({sortKey})");
        }

        if (problems.Count > 0)
        {
            throw new InvalidOperationException(
                $"{Database}.{table.Table} in {store.Description} does not match its declaration: {string.Join("; ", problems)}. " +
                "Columns can be added to a declaration; a changed type or key needs a new table (a new name) or a migration of the data by hand");
        }

        var declared = ResultTableDdl.Columns(table).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        return [.. stored.Keys.Where(c => !declared.Contains(c)).Order(StringComparer.Ordinal)];
    }

    /// <summary>Creates one of the migrator's record tables (and the database) on a store that lacks it, with room to spare.</summary>
    private async Task EnsureRecordTableAsync(string table, string definition, CancellationToken cancellationToken)
    {
        var db = ClickHouseSql.Identifier(Database);
        if ((await store.QueryAsync($"EXISTS TABLE {db}.{table}", cancellationToken)).Trim() != "1")
        {
            await SchemaChangeSafety.ThrowIfDiskNearlyFullAsync(store, $"creating {Database}.{table}", cancellationToken);
            await store.ExecuteAsync(Prepare("CREATE DATABASE IF NOT EXISTS {database}", db), cancellationToken);
            await store.ExecuteAsync(Prepare($"CREATE TABLE IF NOT EXISTS {{database}}.{table} {definition}", db), cancellationToken);
        }
    }

    private static string Unhex(string hex) => Encoding.UTF8.GetString(Convert.FromHexString(hex));
}
