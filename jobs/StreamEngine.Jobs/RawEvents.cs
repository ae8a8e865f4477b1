using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;

namespace StreamEngine.Jobs;

/// <summary>
/// <c>ads.events</c>: the raw events that went into results, deduplicated, for ad-hoc analysis. Written by the
/// ad-metrics job with each checkpoint, before the checkpoint that covers them. A replay writes the same events
/// again; the table's sorting key (campaign, event time, event id) makes them the same rows, which the
/// ReplacingMergeTree collapses and the <c>ads.events</c> view reads with FINAL, so analysts never see one twice.
/// </summary>
public static class RawEvents
{
    public const string Table = "events_log";

    public static IReadOnlyList<SchemaStep> Schema { get; } =
    [
        new("raw events",
        [
            "CREATE TABLE IF NOT EXISTS {database}.events_log (event_time DateTime64(3, 'UTC'), type LowCardinality(String), " +
            "campaign LowCardinality(String), ad String, slot LowCardinality(String), publisher LowCardinality(String), " +
            "user_hash UInt64, country LowCardinality(String), device LowCardinality(String), bid_micros Int64, floor_micros Int64, " +
            "price_micros Int64, currency LowCardinality(String), schema_version UInt8, event_id_hash String, " +
            "source_partition Int32, source_offset Int64) ENGINE = ReplacingMergeTree " +
            "PARTITION BY toYYYYMMDD(event_time) ORDER BY (campaign, event_time, event_id_hash)",
            "CREATE OR REPLACE VIEW {database}.events AS SELECT * FROM {database}.events_log FINAL",
        ]),
    ];

    /// <summary>
    /// One Arrow batch of events. <c>event_id_hash</c> is the hex XXH3-128 hash of the wire id (what dedup compares;
    /// the id itself is not kept); <c>floor_micros</c> is -1 when the event had none; <c>user_hash</c> 0 when absent.
    /// Columns are written by index straight into the buffers Arrow will own, names as cached UTF-8 bytes.
    /// </summary>
    public static RecordBatch ToRows(IReadOnlyList<EventBatch<AdEvent>> batches, Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(names);
        var count = batches.Sum(b => b.Count);
        var time = new FixedColumn<long>(count);
        // type, campaign, ad, slot, publisher, country, device, currency, id (32 hex digits)
        int[] widths = [10, 8, 8, 8, 8, 2, 7, 3, 32];
        var strings = widths.Select(w => new Utf8Column(count, w)).ToArray();
        var userHash = new FixedColumn<ulong>(count);
        var prices = Enumerable.Range(0, 4).Select(_ => new FixedColumn<long>(count)).ToArray(); // bid, floor, price, offset
        var version = new FixedColumn<byte>(count);
        var partition = new FixedColumn<int>(count);
        Span<byte> code = stackalloc byte[32];
        var row = 0;
        foreach (var batch in batches)
        {
            foreach (ref readonly var e in batch.Events.Span)
            {
                time[row] = e.TimestampMs;
                strings[0].Append(WireNames.TypeUtf8(e.Type));
                strings[1].Append(names.Of(e.Campaign));
                strings[2].Append(names.Of(e.Ad));
                strings[3].Append(names.Of(e.Placement));
                strings[4].Append(names.Of(e.Publisher));
                strings[5].Append(Unpack(e.Country, code));
                strings[6].Append(WireNames.DeviceUtf8(e.Device));
                strings[7].Append(Unpack(e.Currency, code));
                strings[8].Append(Hex(e.Id, code));
                userHash[row] = e.UserHash;
                prices[0][row] = e.BidMicros;
                prices[1][row] = e.FloorMicros;
                prices[2][row] = e.PriceMicros;
                prices[3][row] = e.SourceOffset;
                version[row] = e.SchemaVersion;
                partition[row] = batch.Partition;
                row++;
            }
        }

        return new RecordBatch.Builder()
            .Append("event_time", false, new TimestampArray(new TimestampType(TimeUnit.Millisecond, "UTC"), time.Build(), ArrowBuffer.Empty, count, 0, 0))
            .Append("type", false, strings[0].Build())
            .Append("campaign", false, strings[1].Build())
            .Append("ad", false, strings[2].Build())
            .Append("slot", false, strings[3].Build())
            .Append("publisher", false, strings[4].Build())
            .Append("user_hash", false, new UInt64Array(userHash.Build(), ArrowBuffer.Empty, count, 0, 0))
            .Append("country", false, strings[5].Build())
            .Append("device", false, strings[6].Build())
            .Append("bid_micros", false, Int64Column(prices[0], count))
            .Append("floor_micros", false, Int64Column(prices[1], count))
            .Append("price_micros", false, Int64Column(prices[2], count))
            .Append("currency", false, strings[7].Build())
            .Append("schema_version", false, new UInt8Array(version.Build(), ArrowBuffer.Empty, count, 0, 0))
            .Append("event_id_hash", false, strings[8].Build())
            .Append("source_partition", false, new Int32Array(partition.Build(), ArrowBuffer.Empty, count, 0, 0))
            .Append("source_offset", false, Int64Column(prices[3], count))
            .Build();
    }

    private static Int64Array Int64Column(FixedColumn<long> values, int count) => new(values.Build(), ArrowBuffer.Empty, count, 0, 0);

    /// <summary>
    /// The id as 32 lower-case hex digits (what <c>x32</c> formatting gives), written byte by byte: the runtime's
    /// UInt128 formatting takes a general slow path that cost 2% of a catch-up.
    /// </summary>
    internal static ReadOnlySpan<byte> Hex(UInt128 id, Span<byte> into)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, id);
        var digits = "0123456789abcdef"u8;
        for (var i = 0; i < 16; i++)
        {
            into[2 * i] = digits[bytes[i] >> 4];
            into[(2 * i) + 1] = digits[bytes[i] & 0xF];
        }

        return into[..32];
    }

    /// <summary>A packed ASCII code (see <see cref="Codes"/>) as its bytes, most significant first; empty for 0.</summary>
    private static ReadOnlySpan<byte> Unpack(int packed, Span<byte> into)
    {
        var length = 0;
        for (var shift = 24; shift >= 0; shift -= 8)
        {
            var b = (byte)(packed >> shift);
            if (b != 0 || length > 0)
            {
                into[length++] = b;
            }
        }

        return into[..length];
    }
}

/// <summary>A fixed-width column written by index straight into the bytes Arrow will own (no per-value builder calls).</summary>
internal sealed class FixedColumn<T>(int count)
    where T : unmanaged
{
    private readonly byte[] _bytes = new byte[count * Unsafe.SizeOf<T>()];

    public T this[int row]
    {
        set => MemoryMarshal.Cast<byte, T>(_bytes.AsSpan())[row] = value;
    }

    public ArrowBuffer Build() => new(_bytes);
}

/// <summary>A string column written straight into Arrow's offset and data layout.</summary>
internal sealed class Utf8Column
{
    private readonly byte[] _offsets; // Int32 offsets, as the bytes Arrow will own
    private byte[] _data;
    private int _length;
    private int _used;

    /// <param name="capacity">Rows.</param>
    /// <param name="typicalBytes">Bytes a value usually takes: the data is sized for them up front, not grown by doubling.</param>
    public Utf8Column(int capacity, int typicalBytes)
    {
        _offsets = new byte[(capacity + 1) * sizeof(int)];
        _data = new byte[Math.Max(64, capacity * typicalBytes)];
    }

    public void Append(ReadOnlySpan<byte> utf8)
    {
        if (_used + utf8.Length > _data.Length)
        {
            System.Array.Resize(ref _data, Math.Max(_data.Length * 2, _used + utf8.Length));
        }

        utf8.CopyTo(_data.AsSpan(_used));
        _used += utf8.Length;
        MemoryMarshal.Cast<byte, int>(_offsets.AsSpan())[++_length] = _used;
    }

    public StringArray Build() => new(
        _length,
        new ArrowBuffer(_offsets.AsMemory(0, (_length + 1) * sizeof(int))),
        new ArrowBuffer(_data.AsMemory(0, _used)),
        ArrowBuffer.Empty,
        0,
        0);
}
