using Apache.Arrow;
using StreamEngine.AdEvents;
using StreamEngine.Core.Events;

namespace StreamEngine.Jobs.Tests;

/// <summary>The raw-events rows (<c>ads.events</c>): each column holds what the event says, written straight into Arrow's layout.</summary>
public sealed class RawEventsTests
{
    [Fact]
    public void Rows_carry_each_event_with_its_id_hash_as_32_lower_case_hex_digits()
    {
        var symbols = new SymbolTable();
        // Ids written out by hand: leading zeros, every hex digit, the high and the low half both set.
        UInt128[] ids =
        [
            new UInt128(0, 1),
            new UInt128(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            UInt128.MaxValue,
        ];
        string[] expected =
        [
            "00000000000000000000000000000001",
            "0123456789abcdeffedcba9876543210",
            "ffffffffffffffffffffffffffffffff",
        ];
        var events = ids.Select((id, i) => new AdEvent
        {
            Id = id,
            Type = AdEventType.Impression,
            TimestampMs = 1_790_000_000_000 + i,
            Campaign = symbols.Intern($"cmp-{i}"),
            Ad = symbols.Intern("ad-1"),
            Placement = symbols.Intern("slot-1"),
            Publisher = symbols.Intern("pub-1"),
            Country = Codes.Pack2('D', 'E'),
            Device = DeviceType.Mobile,
            PriceMicros = 2_500_000,
            SourceOffset = 40 + i,
        }).ToArray();

        using var rows = RawEvents.ToRows([new EventBatch<AdEvent>(7, events, 43, EventBatchKind.Events, 1)], new Utf8Names(symbols));

        Assert.Equal(3, rows.Length);
        var hashes = (StringArray)rows.Column("event_id_hash");
        Assert.Equal(expected, Enumerable.Range(0, 3).Select(i => hashes.GetString(i)));
        var campaigns = (StringArray)rows.Column("campaign");
        Assert.Equal(["cmp-0", "cmp-1", "cmp-2"], Enumerable.Range(0, 3).Select(i => campaigns.GetString(i)));
        Assert.Equal([40L, 41L, 42L], ((Int64Array)rows.Column("source_offset")).Values.ToArray());
        Assert.Equal([7, 7, 7], ((Int32Array)rows.Column("source_partition")).Values.ToArray());
        Assert.Equal("DE", ((StringArray)rows.Column("country")).GetString(0));
    }
}
