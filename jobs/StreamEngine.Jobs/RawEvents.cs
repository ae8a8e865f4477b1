using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Runtime.Results;

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
    /// Columns are written straight into rented buffers Arrow reads in place (given back when the batch is disposed),
    /// names as cached UTF-8 bytes.
    /// </summary>
    public static RecordBatch ToRows(IReadOnlyList<EventBatch<AdEvent>> batches, Utf8Names names)
    {
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(names);
        var count = batches.Sum(b => b.Count);
        var buffers = new ColumnBuffers();
        var time = buffers.Fixed<long>(count);
        // type, campaign, ad, slot, publisher, country, device, currency, id (32 hex digits)
        int[] widths = [10, 8, 8, 8, 8, 2, 7, 3, 32];
        var strings = widths.Select(w => buffers.Utf8(count, w)).ToArray();
        var userHash = buffers.Fixed<ulong>(count);
        var prices = Enumerable.Range(0, 4).Select(_ => buffers.Fixed<long>(count)).ToArray(); // bid, floor, price, offset
        var version = buffers.Fixed<byte>(count);
        var partition = buffers.Fixed<int>(count);
        Span<byte> code = stackalloc byte[32];
        foreach (var batch in batches)
        {
            foreach (ref readonly var e in batch.Events.Span)
            {
                time.Append(e.TimestampMs);
                strings[0].Append(WireNames.TypeUtf8(e.Type));
                strings[1].Append(names.Of(e.Campaign));
                strings[2].Append(names.Of(e.Ad));
                strings[3].Append(names.Of(e.Placement));
                strings[4].Append(names.Of(e.Publisher));
                strings[5].Append(Unpack(e.Country, code));
                strings[6].Append(WireNames.DeviceUtf8(e.Device));
                strings[7].Append(Unpack(e.Currency, code));
                strings[8].Append(Hex(e.Id, code));
                userHash.Append(e.UserHash);
                prices[0].Append(e.BidMicros);
                prices[1].Append(e.FloorMicros);
                prices[2].Append(e.PriceMicros);
                prices[3].Append(e.SourceOffset);
                version.Append(e.SchemaVersion);
                partition.Append(batch.Partition);
            }
        }

        return buffers.ToBatch(
        [
            ("event_time", time.Build(new TimestampType(TimeUnit.Millisecond, "UTC"))),
            ("type", strings[0].Build()),
            ("campaign", strings[1].Build()),
            ("ad", strings[2].Build()),
            ("slot", strings[3].Build()),
            ("publisher", strings[4].Build()),
            ("user_hash", userHash.Build(UInt64Type.Default)),
            ("country", strings[5].Build()),
            ("device", strings[6].Build()),
            ("bid_micros", prices[0].Build(Int64Type.Default)),
            ("floor_micros", prices[1].Build(Int64Type.Default)),
            ("price_micros", prices[2].Build(Int64Type.Default)),
            ("currency", strings[7].Build()),
            ("schema_version", version.Build(UInt8Type.Default)),
            ("event_id_hash", strings[8].Build()),
            ("source_partition", partition.Build(Int32Type.Default)),
            ("source_offset", prices[3].Build(Int64Type.Default)),
        ]);
    }

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
