using System.Text;
using StreamEngine.AdEvents;

namespace StreamEngine.Jobs.Tests;

/// <summary>The wire format: valid v1 and v2 events decode to one model; every kind of bad message gets its reason.</summary>
public sealed class AdEventDecoderTests
{
    private const long Now = 1_790_000_000_000;
    private readonly SymbolTable _symbols = new();
    private readonly AdEventDecoder _decoder;

    public AdEventDecoderTests()
    {
        _decoder = new AdEventDecoder(_symbols, new AdEventDecoderOptions { MaxMessageBytes = 4096 }, new FixedClock(Now));
    }

    private const string V2Impression =
        """{"v":2,"id":"ev-1","type":"impression","ts":1789999999000,"campaign":"c-42","ad":"ad-7","placement":"slot-3","publisher":"pub-9","user":"u-123","country":"DE","device":"mobile","price_micros":2500000,"currency":"EUR"}""";

    [Fact]
    public void A_v2_impression_decodes_with_interned_identifiers_and_hashed_ids()
    {
        var e = Decode(V2Impression);

        Assert.Equal(AdEventType.Impression, e.Type);
        Assert.Equal(2, e.SchemaVersion);
        Assert.Equal(1_789_999_999_000, e.TimestampMs);
        Assert.Equal(("c-42", "ad-7", "slot-3", "pub-9"), (_symbols.Name(e.Campaign), _symbols.Name(e.Ad), _symbols.Name(e.Placement), _symbols.Name(e.Publisher)));
        Assert.Equal("DE", Codes.Unpack(e.Country));
        Assert.Equal("EUR", Codes.Unpack(e.Currency));
        Assert.Equal(DeviceType.Mobile, e.Device);
        Assert.Equal(2_500_000, e.PriceMicros);
        Assert.Equal(2_500, e.SpendMicros);
        Assert.Equal(-1, e.FloorMicros);
        Assert.NotEqual(0ul, e.UserHash);
        // The id is what dedup compares: the same id in another message (a retried send, its time re-stamped) hashes the same.
        Assert.Equal(Decode(V2Impression.Replace("\"ts\":1789999999000", "\"ts\":1789999999500", StringComparison.Ordinal)).Id, e.Id);
        Assert.NotEqual(Decode(V2Impression.Replace("ev-1", "ev-2", StringComparison.Ordinal)).Id, e.Id);
    }

    [Fact]
    public void A_v1_event_upcasts_to_the_same_model_as_its_v2_twin()
    {
        var v1 = Decode("""{"v":1,"id":"b-1","type":"bid","ts":1789999999000,"campaign":"c","ad":"a","slot":"s","publisher":"p","bid_micros":1200,"floor_micros":800}""");
        var v2 = Decode("""{"v":2,"id":"b-1","type":"bid","ts":1789999999000,"campaign":"c","ad":"a","placement":"s","publisher":"p","bid_micros":1200,"floor_micros":800,"currency":"USD"}""");

        Assert.Equal(v1 with { SchemaVersion = 2 }, v2);
        Assert.Equal(Codes.Usd, v1.Currency);
        Assert.Equal((1200L, 800L), (v1.BidMicros, v1.FloorMicros));
    }

    [Fact]
    public void Unknown_fields_nested_values_escapes_and_field_order_are_handled()
    {
        var e = Decode("""{"extra":{"deep":[1,2,{"x":null}]},"publisher":"p","ad":"a","placement":"s\u0031","campaign":"caf\u00e9","ts":1789999999000,"type":"click","id":"x","v":2,"\u0064evice":"ctv"}""");

        Assert.Equal(AdEventType.Click, e.Type);
        Assert.Equal("café", _symbols.Name(e.Campaign));
        Assert.Equal("s1", _symbols.Name(e.Placement));
        Assert.Equal(DeviceType.Ctv, e.Device);
    }

    [Fact]
    public void Decoding_a_known_event_again_allocates_nothing()
    {
        var bytes = Encoding.UTF8.GetBytes(V2Impression);
        long Round()
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                Assert.True(_decoder.TryDecode(bytes, out _, out _));
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        // The runtime may allocate a little on this thread while it re-compiles the hot methods (tiering); a decoder
        // that allocates per message allocates in every round. So: steady state, i.e. some round allocates nothing.
        var rounds = Enumerable.Range(0, 10).Select(_ => Round()).ToList();
        Assert.True(rounds.Contains(0), $"bytes allocated per 1,000 decodes, round by round: {string.Join(", ", rounds)}");
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { "", "empty-message" },
        { "{\"v\":2,\"id\":\"x\"", "malformed-json" },
        { "not json at all", "malformed-json" },
        { "\u0001\u0002\u00ff\u00fe garbage", "malformed-json" },
        { "[1,2,3]", "not-an-object" },
        { "\"just a string\"", "not-an-object" },
        { V2Impression + "{}", "malformed-json" },
        { V2Impression.Replace("\"v\":2", "\"v\":3", StringComparison.Ordinal), "unknown-version" },
        { V2Impression.Replace("\"v\":2", "\"v\":\"2\"", StringComparison.Ordinal), "wrong-type" },
        { V2Impression.Replace("\"v\":2,", "", StringComparison.Ordinal), "missing-field" },
        { V2Impression.Replace("\"type\":\"impression\"", "\"type\":\"view\"", StringComparison.Ordinal), "unknown-type" },
        { V2Impression.Replace("\"type\":\"impression\"", "\"type\":7", StringComparison.Ordinal), "wrong-type" },
        { V2Impression.Replace("\"ts\":1789999999000", "\"ts\":\"yesterday\"", StringComparison.Ordinal), "wrong-type" },
        { V2Impression.Replace("\"ts\":1789999999000", "\"ts\":1789999999000.5", StringComparison.Ordinal), "wrong-type" },
        { V2Impression.Replace("\"ts\":1789999999000,", "", StringComparison.Ordinal), "missing-field" },
        { V2Impression.Replace("\"ts\":1789999999000", "\"ts\":1000", StringComparison.Ordinal), "ts-too-old" },
        { V2Impression.Replace("\"ts\":1789999999000", "\"ts\":1890000000000", StringComparison.Ordinal), "ts-in-future" },
        { V2Impression.Replace("\"campaign\":\"c-42\",", "", StringComparison.Ordinal), "missing-field" },
        { V2Impression.Replace("\"campaign\":\"c-42\"", "\"campaign\":\"\"", StringComparison.Ordinal), "invalid-field" },
        { V2Impression.Replace("\"campaign\":\"c-42\"", "\"campaign\":42", StringComparison.Ordinal), "wrong-type" },
        { V2Impression.Replace("\"placement\"", "\"slot\"", StringComparison.Ordinal), "missing-field" },
        { V2Impression.Replace("\"price_micros\":2500000,", "", StringComparison.Ordinal), "missing-field" },
        { V2Impression.Replace("\"price_micros\":2500000", "\"price_micros\":-1", StringComparison.Ordinal), "negative-price" },
        { V2Impression.Replace("\"id\":\"ev-1\"", "\"id\":\"\"", StringComparison.Ordinal), "invalid-id" },
        { V2Impression.Replace("\"id\":\"ev-1\"", $"\"id\":\"{new string('x', 65)}\"", StringComparison.Ordinal), "invalid-id" },
        { V2Impression.Replace("\"id\":\"ev-1\"", $"\"id\":\"{new string('x', 300)}\"", StringComparison.Ordinal), "invalid-id" },
        { V2Impression.Replace("\"id\":\"ev-1\"", $"\"id\":\"{string.Concat(Enumerable.Repeat("\\u00e9", 65))}\"", StringComparison.Ordinal), "invalid-id" },
        { V2Impression.Replace("\"campaign\":\"c-42\"", $"\"campaign\":\"{new string('c', 257)}\"", StringComparison.Ordinal), "field-too-long" },
        { V2Impression.Replace("\"id\":\"ev-1\"", $"\"id\":\"{new string('x', 5000)}\"", StringComparison.Ordinal), "too-large" },
        { V2Impression.Replace("\"id\":\"ev-1\"", "\"id\":17", StringComparison.Ordinal), "wrong-type" },
        { V2Impression.Replace("\"country\":\"DE\"", "\"country\":\"Germany\"", StringComparison.Ordinal), "invalid-field" },
        { V2Impression.Replace("\"device\":\"mobile\"", "\"device\":\"toaster\"", StringComparison.Ordinal), "invalid-field" },
        { V2Impression.Replace("\"currency\":\"EUR\"", "\"currency\":\"euro\"", StringComparison.Ordinal), "invalid-field" },
        { V2Impression.Replace("\"v\":2", "\"v\":1", StringComparison.Ordinal), "missing-field" },
        { """{"v":2,"id":"b","type":"bid","ts":1789999999000,"campaign":"c","ad":"a","placement":"s","publisher":"p"}""", "missing-field" },
        { """{"v":1,"id":"b","type":"bid","ts":1789999999000,"campaign":"c","ad":"a","slot":"s","publisher":"p","bid_micros":1,"currency":"EUR"}""", "invalid-field" },
        // Bytes that are not UTF-8 text (the test encodes each char as one byte): kept strings must be text.
        { V2Impression.Replace("\"campaign\":\"c-42\"", "\"campaign\":\"bad\u00ff\u00fe\"", StringComparison.Ordinal), "invalid-utf8" },
        { V2Impression.Replace("\"campaign\":\"c-42\"", "\"campaign\":\"caf\u00c3\"", StringComparison.Ordinal), "invalid-utf8" },
        { V2Impression.Replace("\"ad\":\"ad-7\"", "\"ad\":\"\u00c0\u00af\"", StringComparison.Ordinal), "invalid-utf8" },
        { V2Impression.Replace("\"placement\":\"slot-3\"", "\"placement\":\"s\u00ed\u00a0\u0080\"", StringComparison.Ordinal), "invalid-utf8" },
        { V2Impression.Replace("\"user\":\"u-123\"", "\"user\":\"u\u0080\"", StringComparison.Ordinal), "invalid-utf8" },
        // A JSON escape of a lone surrogate is no text either.
        { V2Impression.Replace("\"campaign\":\"c-42\"", "\"campaign\":\"c\\ud800\"", StringComparison.Ordinal), "invalid-utf8" },
        { V2Impression.Replace("\"type\":\"impression\"", "\"type\":\"impressio\\u006\"", StringComparison.Ordinal), "malformed-json" },
    };

    [Fact]
    public void Enum_like_values_compare_after_unescaping()
    {
        var e = Decode(V2Impression
            .Replace("\"impression\"", "\"impressio\\u006e\"", StringComparison.Ordinal)
            .Replace("\"mobile\"", "\"m\\u006fbile\"", StringComparison.Ordinal)
            .Replace("\"EUR\"", "\"\\u0045UR\"", StringComparison.Ordinal)
            .Replace("\"DE\"", "\"D\\u0045\"", StringComparison.Ordinal));

        Assert.Equal((AdEventType.Impression, DeviceType.Mobile, "EUR", "DE"), (e.Type, e.Device, Codes.Unpack(e.Currency), Codes.Unpack(e.Country)));
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Every_bad_message_is_rejected_with_its_reason_and_never_throws(string message, string reason)
    {
        var ok = _decoder.TryDecode(Encoding.Latin1.GetBytes(message), out var e, out var error);

        Assert.False(ok);
        Assert.Equal(reason, error.Reason);
        Assert.False(string.IsNullOrWhiteSpace(error.Detail));
        Assert.Equal(default, e);
    }

    [Fact]
    public void Random_bytes_and_truncations_never_throw()
    {
        var random = new Random(5);
        var valid = Encoding.UTF8.GetBytes(V2Impression);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = i % 2 == 0 ? valid[..random.Next(valid.Length)] : valid.ToArray();
            if (i % 2 == 1)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            var ok = _decoder.TryDecode(bytes, out _, out var error);
            Assert.True(ok || error.Reason.Length > 0);
        }
    }

    private AdEvent Decode(string json)
    {
        Assert.True(_decoder.TryDecode(Encoding.UTF8.GetBytes(json), out var e, out var error), $"{error.Reason}: {error.Detail}");
        return e;
    }
}
