using System.Text.Json;
using BenchmarkDotNet.Attributes;
using StreamEngine.AdEvents;
using StreamEngine.Core.Events;
using StreamEngine.Jobs;

namespace StreamEngine.Benchmarks;

/// <summary>
/// Encoding a sink batch: 100,000 deduplicated raw events into the Arrow record batch the engine inserts into
/// <c>ads.events</c> (columns, interned names written once per batch), beside the JSONEachRow text a simple sink
/// would send to ClickHouse's HTTP interface. Each operation is one row.
/// </summary>
[MemoryDiagnoser]
public class SinkEncodingBenchmarks : IDisposable
{
    private const int Rows = 100_000;
    private EventBatch<AdEvent>[] _batches = [];
    private Utf8Names _names = null!;
    private SymbolTable _symbols = null!;
    private readonly MemoryStream _json = new();

    [GlobalSetup]
    public void Setup()
    {
        _symbols = new SymbolTable();
        _names = new Utf8Names(_symbols);
        var decoder = new AdEventDecoder(_symbols);
        var events = new List<AdEvent>(Rows);
        foreach (var message in new TrafficGenerator(new TrafficOptions { Seed = 5 }).Messages())
        {
            if (decoder.TryDecode(message.Value, out var e, out _))
            {
                events.Add(e);
            }

            if (events.Count == Rows)
            {
                break;
            }
        }

        _batches = [.. events.Chunk(10_000).Select((chunk, i) => new EventBatch<AdEvent>(i % 12, chunk, i * 10_000L + chunk.Length))];
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _json.Dispose();
        GC.SuppressFinalize(this); // BenchmarkDotNet derives from benchmark classes: they cannot be sealed
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public int ArrowRecordBatch()
    {
        using var batch = RawEvents.ToRows(_batches, _names);
        return batch.Length;
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public long JsonEachRow()
    {
        _json.SetLength(0);
        using var writer = new Utf8JsonWriter(_json);
        foreach (var batch in _batches)
        {
            foreach (var e in batch.Events.Span)
            {
                writer.WriteStartObject();
                writer.WriteString("event_type", WireNames.Type(e.Type));
                writer.WriteNumber("event_time", e.TimestampMs);
                writer.WriteString("campaign", _symbols.Name(e.Campaign));
                writer.WriteNumber("price_micros", e.PriceMicros);
                writer.WriteNumber("source_partition", batch.Partition);
                writer.WriteNumber("source_offset", e.SourceOffset);
                writer.WriteString("event_id_hash", e.Id.ToString());
                writer.WriteEndObject();
                writer.Flush();
                _json.WriteByte((byte)'\n');
                writer.Reset();
            }
        }

        return _json.Length;
    }
}
