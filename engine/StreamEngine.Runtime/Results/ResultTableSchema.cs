namespace StreamEngine.Runtime.Results;

/// <summary>A stored column of a results table.</summary>
public sealed record StoredColumn(string Name, ColumnType Type);

/// <summary>
/// A value of the view before the finishing expressions: the stored partial column(s) of each source partition's newest
/// version, merged by <see cref="Rule"/> under <see cref="Name"/>.
/// </summary>
public sealed record MergedValue(string Name, Merge Rule, IReadOnlyList<string> Columns);

/// <summary>A column of the analysts' views: its name and its expression over the merged values and the keys.</summary>
public sealed record ViewColumn(string Name, string Expression);

/// <summary>One analysts' view of a results table: its name and the keys it groups by (all keys, or fewer to add parts up).</summary>
public sealed record ResultView(string Name, IReadOnlyList<string> Keys);

/// <summary>
/// What a store needs to know of a declared results table, whatever it is written with: the table
/// <c>{Name}_results</c> holds one row per (window, key, source partition) and version; each view takes each partition's
/// newest version, merges the partitions by each value's rule and finishes with the view's expressions. The library
/// adds the window start, the source partition, the version, whether the window is final and when the row was written.
/// </summary>
public sealed record ResultTableSchema(
    string Name,
    IReadOnlyList<StoredColumn> WindowKeys,
    IReadOnlyList<StoredColumn> RowKeys,
    IReadOnlyList<StoredColumn> Values,
    IReadOnlyList<MergedValue> Merged,
    IReadOnlyList<ViewColumn> ViewColumns,
    IReadOnlyList<ResultView> Views)
{
    /// <summary>The window start, <c>DateTime64(3, 'UTC')</c>.</summary>
    public const string WindowStart = "window_start";
    /// <summary>The source partition whose partial the row is, <c>Int32</c>.</summary>
    public const string SourcePartition = "source_partition";
    /// <summary>The result's version (the partition's events in the window): the newest wins.</summary>
    public const string Version = "version";
    /// <summary>1 once the window is closed.</summary>
    public const string IsFinal = "is_final";
    /// <summary>When the row was written (the store's clock), for operators.</summary>
    public const string WrittenAt = "written_at";

    /// <summary>The table the rows go to.</summary>
    public string Table => $"{Name}_results";

    /// <summary>Every key column, window keys first.</summary>
    public IEnumerable<StoredColumn> Keys => WindowKeys.Concat(RowKeys);
}
