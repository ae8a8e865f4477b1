using System.Globalization;
using StreamEngine.Runtime.Results;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>
/// ClickHouse DDL of a declared results table (<see cref="ResultTableSchema"/>), written here once for every job: the
/// versioned table (ReplacingMergeTree by version, sorted by the first key, the window, the other keys and the source
/// partition) and the analysts' views, which apply the exactly-once rule (docs/exactly-once.md): each source
/// partition's newest version of each row, then the partitions merged by each value's declared rule.
/// <c>{database}</c> stands for the configured database.
/// </summary>
public static class ResultTableDdl
{
    // Both steps are idempotent and only add (a column, a view replaced): a changed declaration applies them again,
    // and the check against the store (SchemaMigrator.VerifyAsync) refuses what adding cannot do.

    /// <summary>The job's schema step for the table itself: created, or given the value columns an earlier declaration lacked.</summary>
    public static JobMigration TableMigration(ResultTableSchema table, ClickHouseCluster? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        return new JobMigration($"results table {table.Table}", [.. CreateTable(table, cluster), .. AddColumns(table, cluster)], Reapplicable: true) { ForCluster = true };
    }

    /// <summary>The job's schema step for the table's views.</summary>
    public static JobMigration ViewsMigration(ResultTableSchema table, ClickHouseCluster? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        return new JobMigration($"views of {table.Table}", [.. table.Views.Select(v => CreateView(table, v, cluster))], Reapplicable: true) { ForCluster = true };
    }

    /// <summary>The table that holds the rows and has the sort key: the table itself, or on a cluster its per-shard local table.</summary>
    public static string StorageTable(ResultTableSchema table, ClickHouseCluster? cluster)
    {
        ArgumentNullException.ThrowIfNull(table);
        return cluster is null ? table.Table : table.Table + "_local";
    }

    /// <summary>Every stored column in table order, with its ClickHouse type (the library's own columns included).</summary>
    public static IReadOnlyList<(string Name, string Type)> Columns(ResultTableSchema table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return
        [
            (ResultTableSchema.WindowStart, ColumnType.DateTime64Ms.ClickHouse),
            .. table.WindowKeys.Select(c => (c.Name, c.Type.ClickHouse)),
            (ResultTableSchema.SourcePartition, ColumnType.Int32.ClickHouse),
            .. table.RowKeys.Select(c => (c.Name, c.Type.ClickHouse)),
            .. table.Values.Select(c => (c.Name, c.Type.ClickHouse)),
            (ResultTableSchema.Version, ColumnType.UInt64.ClickHouse),
            (ResultTableSchema.IsFinal, ColumnType.UInt8.ClickHouse),
            (ResultTableSchema.WrittenAt, ColumnType.DateTime64Ms.ClickHouse),
        ];
    }

    /// <summary>The sort key: the first key, the window, the other keys, the source partition (one row per partition's partial).</summary>
    public static IReadOnlyList<string> SortKey(ResultTableSchema table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var keys = table.Keys.Select(k => k.Name).ToList();
        return [keys[0], ResultTableSchema.WindowStart, .. keys.Skip(1), ResultTableSchema.SourcePartition];
    }

    /// <summary>
    /// The table; on a cluster, a Replicated table per shard (Keeper path by the table's UUID and shard, the servers'
    /// defaults) under a Distributed table of the same columns, sharded by the keys so a row's versions meet on one shard.
    /// </summary>
    public static IReadOnlyList<string> CreateTable(ResultTableSchema table, ClickHouseCluster? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        var columns = Columns(table).Select(Definition);
        var storage = StorageTable(table, cluster);
        var onCluster = cluster is null ? "" : " " + cluster.OnCluster;
        var engine = cluster is null ? "ReplacingMergeTree" : "ReplicatedReplacingMergeTree";
        var create = $"CREATE TABLE IF NOT EXISTS {{database}}.{storage}{onCluster} ({string.Join(", ", columns)}) " +
                     $"ENGINE = {engine}({ResultTableSchema.Version}) ORDER BY ({string.Join(", ", SortKey(table))})";
        return cluster is null
            ? [create]
            : [create, $"CREATE TABLE IF NOT EXISTS {{database}}.{table.Table}{onCluster} AS {{database}}.{storage} " +
                       $"ENGINE = Distributed({ClickHouseSql.Literal(cluster.Name)}, {{database}}, {storage}, cityHash64({string.Join(", ", table.Keys.Select(k => k.Name))}))"];
    }

    /// <summary>A column as CREATE and ADD COLUMN write it: the write time is the store's clock by default.</summary>
    private static string Definition((string Name, string Type) column) =>
        column.Name == ResultTableSchema.WrittenAt ? $"{column.Name} {column.Type} DEFAULT now64(3)" : $"{column.Name} {column.Type}";

    /// <summary>Columns a table made by an earlier declaration may lack (values, finality, write time): keys cannot be added.</summary>
    private static IEnumerable<string> AddColumns(ResultTableSchema table, ClickHouseCluster? cluster)
    {
        var keys = table.Keys.Select(k => k.Name).Append(ResultTableSchema.WindowStart).Append(ResultTableSchema.SourcePartition).ToHashSet(StringComparer.Ordinal);
        var added = string.Join(", ", Columns(table).Where(c => !keys.Contains(c.Name))
            .Select(c => $"ADD COLUMN IF NOT EXISTS {Definition(c)}"));
        var onCluster = cluster is null ? "" : " " + cluster.OnCluster;
        yield return $"ALTER TABLE {{database}}.{StorageTable(table, cluster)}{onCluster} {added}";
        if (cluster is not null)
        {
            yield return $"ALTER TABLE {{database}}.{table.Table}{onCluster} {added}";
        }
    }

    /// <summary>
    /// The view: newest version per (window, keys, partition), merged over the partitions and the keys the view leaves
    /// out, then the view's columns (values under their names, derived expressions) in declaration order.
    /// </summary>
    public static string CreateView(ResultTableSchema table, ResultView view, ClickHouseCluster? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(view);
        var allKeys = string.Join(", ", table.Keys.Select(k => k.Name));
        var viewKeys = view.Keys.Count == 0 ? "" : ", " + string.Join(", ", view.Keys);
        var partials = table.Values.Select(v => $"argMax({v.Name}, {ResultTableSchema.Version}) AS p_{v.Name}");
        var merged = table.Merged.Select(m => $"{Aggregate(m)} AS {m.Name}");
        var shown = table.ViewColumns.Select(c => c.Expression == c.Name ? c.Name : $"{c.Expression} AS {c.Name}");
        const string window = ResultTableSchema.WindowStart;
        return string.Create(CultureInfo.InvariantCulture,
            $"CREATE OR REPLACE VIEW {{database}}.{view.Name}{(cluster is null ? "" : " " + cluster.OnCluster)} AS SELECT toDateTime({window}, 'UTC') AS {window}{viewKeys}, {string.Join(", ", shown)} FROM (" +
            $"SELECT {window}{viewKeys}, {string.Join(", ", merged)} FROM (" +
            $"SELECT {window}, {allKeys}, {ResultTableSchema.SourcePartition}, {string.Join(", ", partials)} FROM {{database}}.{table.Table} " +
            $"GROUP BY {window}, {allKeys}, {ResultTableSchema.SourcePartition}) GROUP BY {window}{viewKeys})");
    }

    private static string Aggregate(MergedValue value)
    {
        var partial = value.Columns.Select(c => "p_" + c).ToList();
        var aggregate = value.Rule.Kind switch
        {
            MergeKind.Sum => "sum",
            MergeKind.Min => "min",
            MergeKind.Max => "max",
            MergeKind.SumByBucket => "sumMap",
            MergeKind.MaxByElement => "maxForEach",
            _ => throw new ArgumentOutOfRangeException(nameof(value), value.Rule.Kind, "unknown merge rule"),
        };
        return value.Rule.OnlyWherePositive is { } only
            ? $"{aggregate}If({string.Join(", ", partial)}, p_{only} > 0)"
            : $"{aggregate}({string.Join(", ", partial)})";
    }
}
