using System.Security.Cryptography;
using System.Text;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>
/// One versioned schema change: statements run in order, each idempotent (<c>IF NOT EXISTS</c>), with
/// <c>{database}</c> standing for the configured database.
/// </summary>
public sealed record Migration(int Version, string Name, IReadOnlyList<string> Statements)
{
    /// <summary>Identifies the statements as written: a migration changed after it was applied is refused.</summary>
    public string Checksum => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n;\n", Statements))))[..16];
}

/// <summary>
/// Applies migrations once each, in version order, recording them in <c>{database}.schema_migrations</c>. Safe to
/// run on every start and from several engines at once: statements are idempotent and the record is a
/// ReplacingMergeTree keyed by version.
/// </summary>
public sealed class SchemaMigrator(IClickHouseStore store, string database = "ads")
{
    public string Database { get; } = database;

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
        if ((await store.QueryAsync($"EXISTS TABLE {db}.schema_migrations", cancellationToken)).Trim() != "1")
        {
            await SchemaChangeSafety.ThrowIfDiskNearlyFullAsync(store, $"creating {Database}", cancellationToken);
            await store.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {db}", cancellationToken);
            await store.ExecuteAsync(
                $"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) " +
                "ENGINE = ReplacingMergeTree ORDER BY version", cancellationToken);
        }
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
                await store.ExecuteAsync(statement.Replace("{database}", db, StringComparison.Ordinal), cancellationToken);
            }

            await store.ExecuteAsync(
                // INSERT ... SELECT: servers that read VALUES as literals only (the engine's own endpoint) take it too.
                $"INSERT INTO {db}.schema_migrations SELECT {migration.Version}, {ClickHouseSql.Literal(migration.Name)}, {ClickHouseSql.Literal(migration.Checksum)}, now64(3)",
                cancellationToken);
            now.Add(migration);
        }

        return now;
    }
}
