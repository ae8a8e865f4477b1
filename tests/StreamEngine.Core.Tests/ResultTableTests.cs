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

    [Fact]
    public void A_batch_far_larger_than_the_one_before_keeps_every_value_as_its_columns_grow()
    {
        Assert.NotNull(Table.ToRows([Result("small", 1, 1, version: 1)])); // sizes the next batch's columns for one row
        const int count = 5_000;
        var results = Enumerable.Range(0, count)
            .Select(i => new WindowResult<string, (long Count, int Bucket)>($"key-{i}-\u00fc\u20ac\U0001F600", 1_764_547_200_000 + i * 60_000L, 1_764_547_260_000 + i * 60_000L,
                (i, (i % 300) - 150), i + 1, i % 2 == 0 ? WindowEmission.Final : WindowEmission.Early, (i % 7) - 1))
            .ToList();

        var table = Table.ToRows(results)!;
        using var rows = table.Rows;

        Assert.Equal(count, rows.Length);
        Assert.All(rows.Schema.FieldsList, f => Assert.False(f.IsNullable));
        var start = (Apache.Arrow.TimestampArray)rows.Column("window_start");
        var keys = (Apache.Arrow.StringArray)rows.Column("k");
        var partitions = (Apache.Arrow.Int32Array)rows.Column("source_partition");
        var counts = (Apache.Arrow.UInt64Array)rows.Column("n");
        var buckets = (Apache.Arrow.ListArray)rows.Column("h_buckets");
        var bucketCounts = (Apache.Arrow.ListArray)rows.Column("h_counts");
        var versions = (Apache.Arrow.UInt64Array)rows.Column("version");
        var final = (Apache.Arrow.UInt8Array)rows.Column("is_final");
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_764_547_200_000 + i * 60_000L), start.GetTimestamp(i));
            Assert.Equal($"key-{i}-\u00fc\u20ac\U0001F600", keys.GetString(i));
            Assert.Equal(Math.Max(0, (i % 7) - 1), partitions.GetValue(i));
            Assert.Equal((ulong)i, counts.GetValue(i));
            Assert.Equal([(short)((i % 300) - 150)], ((Apache.Arrow.Int16Array)buckets.GetSlicedValues(i)).Values.ToArray());
            Assert.Equal([1UL], ((Apache.Arrow.UInt64Array)bucketCounts.GetSlicedValues(i)).Values.ToArray());
            Assert.Equal((ulong)(i + 1), versions.GetValue(i));
            Assert.Equal(i % 2 == 0 ? (byte)1 : (byte)0, final.GetValue(i));
        }
    }

    [Fact]
    public unsafe void A_batch_disposed_while_native_code_holds_its_export_keeps_its_values_until_the_export_is_released()
    {
        const int count = 100_000;
        var exported = Apache.Arrow.C.CArrowArray.Create();
        var others = new List<Apache.Arrow.RecordBatch>();
        try
        {
            using (var batch = Column(count, i => i))
            {
                Apache.Arrow.C.CArrowArrayExporter.ExportRecordBatch(batch, exported); // pins the buffers, as the insert into chDB does
            }

            // Disposed, as the store disposes a batch once its insert returns; other batches of the same size are built meanwhile.
            for (var b = 0; b < 4; b++)
            {
                others.Add(Column(count, _ => -1));
            }

            var values = (long*)exported->children[0]->buffers[1];
            var wrong = 0;
            for (var i = 0; i < count; i++)
            {
                wrong += values[i] == i ? 0 : 1;
            }

            Assert.Equal(0, wrong);
        }
        finally
        {
            Apache.Arrow.C.CArrowArray.Free(exported);
            others.ForEach(o => o.Dispose());
        }

        static Apache.Arrow.RecordBatch Column(int count, Func<long, long> value)
        {
            var buffers = new ColumnBuffers();
            var column = buffers.Fixed<long>(count);
            for (var i = 0; i < count; i++)
            {
                column.Append(value(i));
            }

            return buffers.ToBatch([("v", column.Build(Apache.Arrow.Types.Int64Type.Default))]);
        }
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
