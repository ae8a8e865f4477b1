using System.Buffers.Binary;
using Apache.Arrow;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

[Collection(EmbeddedClickHouseCollection.Name)]
public sealed class EmbeddedClickHouseTests(EmbeddedClickHouseFixture clickHouse)
{
    private EmbeddedClickHouse Store => clickHouse.Store;

    [Fact]
    public void A_repeated_block_with_the_same_deduplication_token_is_dropped()
    {
        var db = clickHouse.CreateDatabase("dedup");
        Store.Execute($"CREATE TABLE {db}.results (k String, v UInt64) ENGINE = MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 100");
        var block = "{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\":2}\n"u8.ToArray();

        Store.Insert($"INSERT INTO {db}.results SETTINGS insert_deduplication_token = 'job-window-1'", "JSONEachRow", block).Dispose();
        Store.Insert($"INSERT INTO {db}.results SETTINGS insert_deduplication_token = 'job-window-1'", "JSONEachRow", block).Dispose();
        Assert.Equal("2\t3", Store.QueryText($"SELECT count(), sum(v) FROM {db}.results").Trim());

        Store.Insert($"INSERT INTO {db}.results SETTINGS insert_deduplication_token = 'job-window-2'", "JSONEachRow", block).Dispose();
        Assert.Equal("4\t6", Store.QueryText($"SELECT count(), sum(v) FROM {db}.results").Trim());
    }

    /// <summary>
    /// Their timer signals land on the calling .NET thread and froze a whole engine in a malloc deadlock (see
    /// <see cref="EmbeddedClickHouse.NoSignals"/>): off on every connection, whatever settings it is opened with.
    /// </summary>
    [Fact]
    public void The_query_profilers_are_off_on_every_connection()
    {
        const string Profilers = "SELECT name, value FROM system.settings WHERE name LIKE 'query_profiler_%_time_period_ns' ORDER BY name";
        const string Off = "query_profiler_cpu_time_period_ns\t0\nquery_profiler_real_time_period_ns\t0";
        Assert.Equal(Off, Store.QueryText(Profilers).Trim());
        using var readOnly = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions
        {
            Path = Store.DataPath,
            Settings = new Dictionary<string, string> { ["readonly"] = "2", ["query_profiler_cpu_time_period_ns"] = "1000000" },
        });
        Assert.Equal(Off, readOnly.QueryText(Profilers).Trim());
        Assert.Equal("2", readOnly.QueryText("SELECT getSetting('readonly')").Trim()); // the connection's own arguments do apply to it
    }

    [Fact]
    public void A_million_rows_inserted_as_RowBinary_aggregate_exactly()
    {
        const int rows = 1_000_000;
        var db = clickHouse.CreateDatabase("bulk");
        Store.Execute($"CREATE TABLE {db}.events (id UInt64, campaign UInt32, price Int64) ENGINE = MergeTree ORDER BY id");
        var data = new byte[rows * 20];
        long expectedSum = 0;
        for (var i = 0; i < rows; i++)
        {
            var row = data.AsSpan(i * 20, 20);
            var price = (long)(i % 1000) * 37 - 5000;
            BinaryPrimitives.WriteUInt64LittleEndian(row, (ulong)i);
            BinaryPrimitives.WriteUInt32LittleEndian(row[8..], (uint)(i % 100));
            BinaryPrimitives.WriteInt64LittleEndian(row[12..], price);
            expectedSum += price;
        }

        using (var insert = Store.Insert($"INSERT INTO {db}.events", "RowBinary", data))
        {
            Assert.Equal((ulong)rows, insert.RowsWritten);
        }

        var summary = Store.QueryText($"SELECT count(), uniqExact(campaign), sum(price), max(id) FROM {db}.events").Trim().Split('\t');
        Assert.Equal(["1000000", "100", expectedSum.ToString(System.Globalization.CultureInfo.InvariantCulture), "999999"], summary);
    }

    [Fact]
    public void Arrow_record_batches_are_inserted_without_serializing()
    {
        var db = clickHouse.CreateDatabase("arrow");
        Store.Execute($"CREATE TABLE {db}.t (campaign String, impressions UInt64, spend Int64) ENGINE = MergeTree ORDER BY campaign");
        var batches = Enumerable.Range(0, 3).Select(b => new RecordBatch.Builder()
            .Append("campaign", false, c => c.String(s => s.AppendRange(Enumerable.Range(0, 1000).Select(i => $"c{(b * 1000 + i) % 10}"))))
            .Append("impressions", false, c => c.UInt64(s => s.AppendRange(Enumerable.Range(0, 1000).Select(i => (ulong)(i + 1)))))
            .Append("spend", false, c => c.Int64(s => s.AppendRange(Enumerable.Range(0, 1000).Select(i => (long)i * 3))))
            .Build()).ToList();

        using (var insert = Store.InsertArrow($"INSERT INTO {db}.t (campaign, impressions, spend)", new InMemoryRecordBatches(batches)))
        {
            Assert.Equal(3000ul, insert.RowsWritten);
        }

        Assert.Equal("3000\t1501500\t4495500\t10", Store.QueryText($"SELECT count(), sum(impressions), sum(spend), uniqExact(campaign) FROM {db}.t").Trim());
    }

    [Fact]
    public void A_malformed_query_raises_ClickHouse_error_code_and_name_and_the_connection_stays_usable()
    {
        var syntax = Assert.Throws<ClickHouseException>(() => Store.Query("SELEC 1"));
        Assert.Equal(62, syntax.Code);
        Assert.Equal("SYNTAX_ERROR", syntax.ErrorName);

        var missing = Assert.Throws<ClickHouseException>(() => Store.Query("SELECT * FROM no_database.no_table"));
        Assert.Equal("UNKNOWN_DATABASE", missing.ErrorName);
        Assert.True(missing.Code > 0);

        Assert.Equal("2", Store.QueryText("SELECT 1 + 1").Trim());
    }

    [Fact]
    public void Results_read_as_a_stream_equal_the_span_and_need_no_copy()
    {
        using var result = Store.Query("SELECT number, toString(number) FROM numbers(100000)", "TSV");
        using var stream = result.OpenStream();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);

        Assert.Equal(result.Length, copy.Length);
        Assert.True(result.Span.SequenceEqual(copy.ToArray()));
        Assert.StartsWith("0\t0\n1\t1\n", result.Text, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() =>
        {
            result.Dispose();
            _ = result.Span.Length;
        });
    }

    [Fact]
    public async Task Queries_from_many_threads_are_serialized_safely()
    {
        var db = clickHouse.CreateDatabase("threads");
        Store.Execute($"CREATE TABLE {db}.t (thread UInt32, i UInt32) ENGINE = MergeTree ORDER BY (thread, i)");

        await Task.WhenAll(Enumerable.Range(0, 8).Select(thread => Task.Run(() =>
        {
            for (var i = 0; i < 20; i++)
            {
                Store.Execute($"INSERT INTO {db}.t VALUES ({thread}, {i})");
                Assert.Equal("1", Store.QueryText($"SELECT 1").Trim());
            }
        })));

        Assert.Equal("160\t8", Store.QueryText($"SELECT count(), uniqExact(thread) FROM {db}.t").Trim());
    }

    [Fact]
    public void A_second_data_path_in_the_same_process_is_refused_with_the_reason()
    {
        using var other = new TemporaryDirectory();

        var error = Assert.Throws<InvalidOperationException>(() => EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = other.Path }));

        Assert.Contains("one data path per process", error.Message, StringComparison.Ordinal);
        Assert.Equal("1", Store.QueryText("SELECT 1").Trim());
    }

    [Fact]
    public void A_NullReferenceException_after_chDB_loaded_is_caught_as_usual()
    {
        // With ClickHouse's signal handlers installed, this SIGSEGV would kill the test process (exit 139).
        Assert.Equal("1", Store.QueryText("SELECT 1").Trim());
        object? nothing = Environment.TickCount == int.MinValue ? new object() : null;

        Assert.Throws<NullReferenceException>(() => nothing!.GetHashCode());
        Assert.Equal("1", Store.QueryText("SELECT 1").Trim());
    }
}
