using System.Buffers.Binary;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench;

/// <summary>
/// Rows per second into the embedded ClickHouse (chDB, MergeTree) for the same rows encoded as RowBinary,
/// JSONEachRow and Arrow (handed over through the C data interface). Encoding is done beforehand: this is the
/// store's ceiling, not the encoder's.
/// </summary>
internal static class ChDbCeilings
{
    private const string Columns = "ts, id, type, campaign, placement, price_micros";

    public static async Task<List<Measurement>> RunAsync(int repetitions, double scale)
    {
        var rows = (int)(1_000_000 * scale);
        using var folder = new TemporaryDirectory("streamengine-bench-chdb");
        using var store = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = folder.Path });
        store.Execute("CREATE DATABASE bench");
        store.Execute("CREATE TABLE bench.events (ts DateTime64(3, 'UTC'), id String, type LowCardinality(String), campaign String, " +
                      "placement String, price_micros Int64) ENGINE = MergeTree ORDER BY (campaign, ts)");

        var rowBinary = EncodeRowBinary(rows);
        var json = EncodeJsonEachRow(rows);
        var arrow = EncodeArrow(rows);
        var results = new List<Measurement>();
        long Insert(Func<ChDbResult> insert)
        {
            store.Execute("TRUNCATE TABLE bench.events");
            using var result = insert();
            var written = checked((long)result.RowsWritten);
            return written == rows ? written : throw new InvalidOperationException($"wrote {written} of {rows} rows");
        }

        results.Add(await Measurement.RateAsync($"chDB insert RowBinary, {rows:N0} rows", "rows/s", repetitions,
            _ => Task.FromResult(Insert(() => store.Insert($"INSERT INTO bench.events ({Columns})", "RowBinary", rowBinary))),
            $"{rowBinary.Length / rows} bytes/row, streaming INSERT"));
        results.Add(await Measurement.RateAsync($"chDB insert JSONEachRow, {rows:N0} rows", "rows/s", repetitions,
            _ => Task.FromResult(Insert(() => store.Insert($"INSERT INTO bench.events ({Columns})", "JSONEachRow", json))),
            $"{json.Length / rows} bytes/row, streaming INSERT"));
        results.Add(await Measurement.RateAsync($"chDB insert Arrow (C data interface), {rows:N0} rows", "rows/s", repetitions,
            _ => Task.FromResult(Insert(() => store.InsertArrow($"INSERT INTO bench.events ({Columns})", new InMemoryRecordBatches(arrow)))),
            $"{arrow.Count} record batches, no serialization"));
        return results;
    }

    private static string Type(int i) => (i % 9) switch { < 4 => "bid", 4 => "win", < 7 => "impression", 7 => "click", _ => "conversion" };

    private static long Timestamp(int i) => 1_790_000_000_000L + i * 3L;

    private static byte[] EncodeRowBinary(int rows)
    {
        using var buffer = new MemoryStream(rows * 64);
        Span<byte> number = stackalloc byte[8];
        void WriteString(string s) => RowBinary.WriteString(buffer, Encoding.UTF8.GetBytes(s));

        for (var i = 0; i < rows; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(number, Timestamp(i));
            buffer.Write(number);
            WriteString($"ev-{i:D12}");
            WriteString(Type(i));
            WriteString(SampleEvents.Campaign(i));
            WriteString($"slot-{i % 800:D4}");
            BinaryPrimitives.WriteInt64LittleEndian(number, 1000 + i % 9000);
            buffer.Write(number);
        }

        return buffer.ToArray();
    }

    private static byte[] EncodeJsonEachRow(int rows)
    {
        var text = new StringBuilder(rows * 130);
        for (var i = 0; i < rows; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"{{\"ts\":{Timestamp(i)},\"id\":\"ev-{i:D12}\",\"type\":\"{Type(i)}\",\"campaign\":\"{SampleEvents.Campaign(i)}\",\"placement\":\"slot-{i % 800:D4}\",\"price_micros\":{1000 + i % 9000}}}\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static List<RecordBatch> EncodeArrow(int rows)
    {
        const int batchSize = 65_536;
        var timestampType = new TimestampType(TimeUnit.Millisecond, "UTC");
        var batches = new List<RecordBatch>();
        for (var start = 0; start < rows; start += batchSize)
        {
            var count = Math.Min(batchSize, rows - start);
            var range = Enumerable.Range(start, count).ToArray();
            var ts = new TimestampArray.Builder(timestampType);
            foreach (var i in range)
            {
                ts.Append(DateTimeOffset.FromUnixTimeMilliseconds(Timestamp(i)));
            }

            batches.Add(new RecordBatch.Builder()
                .Append("ts", false, ts.Build())
                .Append("id", false, c => c.String(s => s.AppendRange(range.Select(i => $"ev-{i:D12}"))))
                .Append("type", false, c => c.String(s => s.AppendRange(range.Select(Type))))
                .Append("campaign", false, c => c.String(s => s.AppendRange(range.Select(SampleEvents.Campaign))))
                .Append("placement", false, c => c.String(s => s.AppendRange(range.Select(i => $"slot-{i % 800:D4}"))))
                .Append("price_micros", false, c => c.Int64(s => s.AppendRange(range.Select(i => 1000L + i % 9000))))
                .Build());
        }

        return batches;
    }
}
