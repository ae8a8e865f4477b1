using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Results;

namespace StreamEngine.Core.Tests;

/// <summary>A declared results table's rows: the columns in the store's order, and values a column cannot hold refused by name.</summary>
public sealed class ResultTableTests
{
    private static readonly ResultTable<string, (long Count, int Bucket)> Table = ResultTable.Of<string, (long Count, int Bucket)>("probe")
        .Key("k", ColumnType.String, k => k)
        .Sum("n", ColumnType.UInt64, v => v.Count)
        .BucketCounts("h", "h_buckets", ColumnType.Int16, "h_counts", v => [(v.Bucket, 1L)])
        .Build();

    [Fact]
    public void Rows_are_the_newest_result_per_window_and_partition_in_the_store_s_column_order()
    {
        var rows = Table.ToRows([Result("a", 3, 7, version: 1), Result("a", 5, 7, version: 2), Result("b", 1, -32768, version: 1)])!;

        Assert.Equal("probe_results", rows.Table);
        Assert.Equal(["window_start", "k", "source_partition", "n", "h_buckets", "h_counts", "version", "is_final"], rows.Rows.Schema.FieldsList.Select(f => f.Name));
        Assert.Equal(2, rows.Rows.Length);
        var counts = (Apache.Arrow.UInt64Array)rows.Rows.Column("n");
        Assert.Equal([5UL, 1UL], [counts.GetValue(0)!.Value, counts.GetValue(1)!.Value]);
        Assert.Null(Table.ToRows([]));
    }

    [Theory]
    [InlineData(-1, 7, "probe_results.n (UInt64)")]
    [InlineData(1, 40_000, "probe_results.h_buckets (Array(Int16))")]
    public void A_value_the_column_cannot_hold_stops_the_write_naming_the_column_key_and_window(long count, int bucket, string column)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Table.ToRows([Result("a", count, bucket, version: 1)]));

        Assert.Contains(column, error.Message, StringComparison.Ordinal);
        Assert.Contains("key a, window 2025-12-01 00:00:00Z, partition 3", error.Message, StringComparison.Ordinal);
    }

    private static WindowResult<string, (long Count, int Bucket)> Result(string key, long count, int bucket, long version) =>
        new(key, 1_764_547_200_000, 1_764_547_260_000, (count, bucket), version, WindowEmission.Early, 3);
}
