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
    public static JobMigration TableMigration(ResultTableSchema table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return new JobMigration($"results table {table.Table}", [CreateTable(table), .. AddColumns(table)], Reapplicable: true);
    }

    /// <summary>The job's schema step for the table's views.</summary>
    public static JobMigration ViewsMigration(ResultTableSchema table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return new JobMigration($"views of {table.Table}", [.. table.Views.Select(v => CreateView(table, v))], Reapplicable: true);
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

    public static string CreateTable(ResultTableSchema table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var columns = Columns(table).Select(c => c.Name == ResultTableSchema.WrittenAt ? $"{c.Name} {c.Type} DEFAULT now64(3)" : $"{c.Name} {c.Type}");
        return $"CREATE TABLE IF NOT EXISTS {{database}}.{table.Table} ({string.Join(", ", columns)}) " +
               $"ENGINE = ReplacingMergeTree({ResultTableSchema.Version}) ORDER BY ({string.Join(", ", SortKey(table))})";
    }

    /// <summary>Columns a table made by an earlier declaration may lack (values, finality, write time): keys cannot be added.</summary>
    private static IEnumerable<string> AddColumns(ResultTableSchema table)
    {
        var keys = table.Keys.Select(k => k.Name).Append(ResultTableSchema.WindowStart).Append(ResultTableSchema.SourcePartition).ToHashSet(StringComparer.Ordinal);
        var added = Columns(table).Where(c => !keys.Contains(c.Name))
            .Select(c => $"ADD COLUMN IF NOT EXISTS {c.Name} {c.Type}" + (c.Name == ResultTableSchema.WrittenAt ? " DEFAULT now64(3)" : ""));
        yield return $"ALTER TABLE {{database}}.{table.Table} {string.Join(", ", added)}";
    }

    /// <summary>
    /// The view: newest version per (window, keys, partition), merged over the partitions and the keys the view leaves
    /// out, then the view's columns (values under their names, derived expressions) in declaration order.
    /// </summary>
    public static string CreateView(ResultTableSchema table, ResultView view)
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
            $"CREATE OR REPLACE VIEW {{database}}.{view.Name} AS SELECT toDateTime({window}, 'UTC') AS {window}{viewKeys}, {string.Join(", ", shown)} FROM (" +
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
