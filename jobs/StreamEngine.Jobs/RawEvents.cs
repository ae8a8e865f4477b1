using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.Core.AdEvents;
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

    public static IReadOnlyList<(int Version, string Name, string[] Statements)> Schema { get; } =
    [
        (110, "raw events",
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
    /// </summary>
    public static RecordBatch ToRows(IReadOnlyList<EventBatch<AdEvent>> batches, SymbolTable symbols)
    {
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(symbols);
        var time = new TimestampArray.Builder(new TimestampType(TimeUnit.Millisecond, "UTC"));
        var strings = Enumerable.Range(0, 9).Select(_ => new StringArray.Builder()).ToArray(); // type .. currency, id
        var userHash = new UInt64Array.Builder();
        var prices = Enumerable.Range(0, 4).Select(_ => new Int64Array.Builder()).ToArray(); // bid, floor, price, offset
        var version = new UInt8Array.Builder();
        var partition = new Int32Array.Builder();
        Span<byte> hex = stackalloc byte[32];
        foreach (var batch in batches)
        {
            foreach (ref readonly var e in batch.Events.Span)
            {
                time.Append(DateTimeOffset.FromUnixTimeMilliseconds(e.TimestampMs));
                strings[0].Append(TypeNames[(int)e.Type]);
                strings[1].Append(symbols.Name(e.Campaign));
                strings[2].Append(symbols.Name(e.Ad));
                strings[3].Append(symbols.Name(e.Placement));
                strings[4].Append(symbols.Name(e.Publisher));
                strings[5].Append(Codes.Unpack(e.Country));
                strings[6].Append(DeviceNames[(int)e.Device]);
                strings[7].Append(Codes.Unpack(e.Currency));
                e.Id.TryFormat(hex, out _, "x32", null);
                strings[8].Append(hex); // UTF-8 bytes: no string per event
                userHash.Append(e.UserHash);
                prices[0].Append(e.BidMicros);
                prices[1].Append(e.FloorMicros);
                prices[2].Append(e.PriceMicros);
                prices[3].Append(e.SourceOffset);
                version.Append(e.SchemaVersion);
                partition.Append(batch.Partition);
            }
        }

        return new RecordBatch.Builder()
            .Append("event_time", false, time.Build())
            .Append("type", false, strings[0].Build())
            .Append("campaign", false, strings[1].Build())
            .Append("ad", false, strings[2].Build())
            .Append("slot", false, strings[3].Build())
            .Append("publisher", false, strings[4].Build())
            .Append("user_hash", false, userHash.Build())
            .Append("country", false, strings[5].Build())
            .Append("device", false, strings[6].Build())
            .Append("bid_micros", false, prices[0].Build())
            .Append("floor_micros", false, prices[1].Build())
            .Append("price_micros", false, prices[2].Build())
            .Append("currency", false, strings[7].Build())
            .Append("schema_version", false, version.Build())
            .Append("event_id_hash", false, strings[8].Build())
            .Append("source_partition", false, partition.Build())
            .Append("source_offset", false, prices[3].Build())
            .Build();
    }

    private static readonly string[] TypeNames = ["", "bid", "win", "impression", "click", "conversion"];

    private static readonly string[] DeviceNames = ["", "desktop", "mobile", "tablet", "ctv", "other"];
}
