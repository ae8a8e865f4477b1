using System.Buffers.Binary;
using System.Net.Http.Headers;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Events;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Jobs;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench;

/// <summary>
/// Rows per second through each sink, the way the engine writes: generated ad events turned into <c>ads.events</c>
/// rows (17 columns) and written with <see cref="TableWriter"/> (content-hash token, retries) in 100,000-row batches.
/// Embedded: chDB's Arrow input in process. Server: ClickHouse.Driver over HTTP, ArrowStream, to this process's
/// ClickHouse HTTP endpoint over chDB. Beside it, the same rows over the same HTTP path as RowBinary and JSONEachRow
/// (encoded from the Arrow batch, encoding included), to check ArrowStream is the format to keep.
/// </summary>
internal static class SinkThroughput
{
    private const int BatchRows = 100_000;

    public static async Task<List<Measurement>> RunAsync(int repetitions, double scale)
    {
        var rows = (int)(1_000_000 * scale);
        var (events, names) = Events(rows);
        var batches = Enumerable.Range(0, (rows + BatchRows - 1) / BatchRows)
            .Select(i => RawEvents.ToRows([new EventBatch<AdEvent>(0, events.AsMemory(i * BatchRows, Math.Min(BatchRows, rows - i * BatchRows)))], names))
            .ToList();

        using var folder = new TemporaryDirectory("streamengine-bench-sinks");
        using var clickHouse = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = folder.Path });
        await using var embedded = new EmbeddedStore(clickHouse, ownsConnection: false);
        await new SchemaMigrator(embedded, "ads").ApplyJobSchemaAsync("sink-bench", [], RawEvents.Schema);
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse, new ClickHouseHttpOptions
        {
            Port = 0,
            Users = [ClickHouseUser.WithPassword("default", "", ClickHouseRole.Admin)], // a fresh server's user, as ServerStore's defaults expect
        });
        await using var server = new ServerStore(new ServerStoreOptions { Url = endpoint.Url });
        using var http = new HttpClient { BaseAddress = endpoint.Url };
        var table = $"ads.{RawEvents.Table}";
        var rowBinary = batches.Select(EncodeRowBinary).ToList();
        var json = batches.Select(JsonEachRow).ToList();

        async Task<long> Write(IClickHouseStore store, int run)
        {
            await embedded.ExecuteAsync($"TRUNCATE TABLE {table}");
            var writer = new TableWriter(store, table);
            foreach (var batch in batches)
            {
                await writer.WriteAsync(batch);
            }

            return await Count(embedded, table, rows);
        }

        async Task<long> Post(string format, IReadOnlyList<byte[]> bodies)
        {
            await embedded.ExecuteAsync($"TRUNCATE TABLE {table}");
            foreach (var body in bodies)
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                using var response = await http.PostAsync($"?query={Uri.EscapeDataString($"INSERT INTO {table} FORMAT {format}")}", content);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"INSERT FORMAT {format} failed: {await response.Content.ReadAsStringAsync()}");
                }
            }

            return await Count(embedded, table, rows);
        }

        var note = $"{rows:N0} ads.events rows, {BatchRows:N0} per insert";
        return
        [
            await Measurement.RateAsync("embedded sink (chDB), Arrow C data interface", "rows/s", repetitions, run => Write(embedded, run),
                $"{note}, TableWriter (content hash + insert)"),
            await Measurement.RateAsync("server sink, ArrowStream over HTTP (ClickHouse.Driver)", "rows/s", repetitions, run => Write(server, run),
                $"{note}, TableWriter, to the engine's HTTP endpoint over chDB"),
            await Measurement.RateAsync("HTTP insert, RowBinary (encoded from the Arrow batches)", "rows/s", repetitions, _ => Post("RowBinary", [.. batches.Select(EncodeRowBinary)]),
                $"{note}, {rowBinary.Sum(b => (long)b.Length) / rows} bytes/row, encoding included"),
            await Measurement.RateAsync("HTTP insert, JSONEachRow (encoded from the Arrow batches)", "rows/s", repetitions, _ => Post("JSONEachRow", [.. batches.Select(JsonEachRow)]),
                $"{note}, {json.Sum(b => (long)b.Length) / rows} bytes/row, encoding included"),
            await Measurement.RateAsync("HTTP insert, ArrowStream (HttpClient, no driver)", "rows/s", repetitions, _ => Post("ArrowStream", [.. batches.Select(ArrowStream)]),
                $"{note}, {batches.Select(ArrowStream).Sum(b => (long)b.Length) / rows} bytes/row, encoding included"),
        ];
    }

    private static async Task<long> Count(EmbeddedStore store, string table, int expected)
    {
        var count = long.Parse((await store.QueryAsync($"SELECT count() FROM {table}")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return count == expected ? count : throw new InvalidOperationException($"{table} holds {count} rows, expected {expected}");
    }

    private static (AdEvent[] Events, Utf8Names Names) Events(int count)
    {
        var symbols = new SymbolTable();
        var decoder = new AdEventDecoder(symbols);
        var events = new List<AdEvent>(count);
        foreach (var message in new TrafficGenerator(new TrafficOptions { Seed = 5 }).Messages())
        {
            if (decoder.TryDecode(message.Value, out var e, out _))
            {
                events.Add(e with { SourceOffset = events.Count });
            }

            if (events.Count == count)
            {
                break;
            }
        }

        return ([.. events], new Utf8Names(symbols));
    }

    private static byte[] ArrowStream(RecordBatch batch)
    {
        using var buffer = new MemoryStream();
        using (var writer = new ArrowStreamWriter(buffer, batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return buffer.ToArray();
    }

    /// <summary>ClickHouse RowBinary for the column types of ads.events (timestamps as DateTime64(3): Int64 milliseconds).</summary>
    private static byte[] EncodeRowBinary(RecordBatch batch)
    {
        using var buffer = new MemoryStream(batch.Length * 160);
        Span<byte> number = stackalloc byte[8];
        for (var row = 0; row < batch.Length; row++)
        {
            foreach (var column in batch.Arrays)
            {
                switch (column)
                {
                    case StringArray text:
                        RowBinary.WriteString(buffer, text.GetBytes(row));
                        break;
                    case TimestampArray time:
                        BinaryPrimitives.WriteInt64LittleEndian(number, time.Values[row]);
                        buffer.Write(number);
                        break;
                    case Int64Array int64:
                        BinaryPrimitives.WriteInt64LittleEndian(number, int64.Values[row]);
                        buffer.Write(number);
                        break;
                    case UInt64Array uint64:
                        BinaryPrimitives.WriteUInt64LittleEndian(number, uint64.Values[row]);
                        buffer.Write(number);
                        break;
                    case Int32Array int32:
                        BinaryPrimitives.WriteInt32LittleEndian(number, int32.Values[row]);
                        buffer.Write(number[..4]);
                        break;
                    case UInt8Array uint8:
                        buffer.WriteByte(uint8.Values[row]);
                        break;
                    default:
                        throw new NotSupportedException(column.GetType().Name);
                }
            }
        }

        return buffer.ToArray();
    }

    private static byte[] JsonEachRow(RecordBatch batch)
    {
        using var buffer = new MemoryStream(batch.Length * 400);
        using var json = new System.Text.Json.Utf8JsonWriter(buffer);
        var names = batch.Schema.FieldsList.Select(f => System.Text.Json.JsonEncodedText.Encode(f.Name)).ToArray();
        for (var row = 0; row < batch.Length; row++)
        {
            json.WriteStartObject();
            for (var c = 0; c < batch.ColumnCount; c++)
            {
                switch (batch.Column(c))
                {
                    case StringArray text: json.WriteString(names[c], text.GetBytes(row)); break;
                    case TimestampArray time: json.WriteString(names[c], DateTime.UnixEpoch.AddMilliseconds(time.Values[row]).ToString("yyyy-MM-dd HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)); break;
                    case Int64Array int64: json.WriteNumber(names[c], int64.Values[row]); break;
                    case UInt64Array uint64: json.WriteNumber(names[c], uint64.Values[row]); break;
                    case Int32Array int32: json.WriteNumber(names[c], int32.Values[row]); break;
                    case UInt8Array uint8: json.WriteNumber(names[c], uint8.Values[row]); break;
                    default: throw new NotSupportedException(batch.Column(c).GetType().Name);
                }
            }

            json.WriteEndObject();
            json.Flush();
            buffer.WriteByte((byte)'\n');
            json.Reset();
        }

        return buffer.ToArray();
    }
}
