using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using StreamEngine.AdEvents;
using StreamEngine.TestOracles;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// The published JSON Schemas of the wire format (docs/schema/ad-event.v1/v2.schema.json) and the decoder agree: a
/// schema-valid event is accepted and an invalid one dead-lettered, apart from the rules a schema cannot state
/// (size limit, event-time bounds, nesting depth, UTF-8 text), over hand-written events, the generator's traffic and
/// tens of thousands of seeded mutations of valid events (a property-based fuzz of the decoder: it never throws,
/// every rejection has a reason, every acceptance is valid by the contract). The tests' reference reader
/// (StreamEngine.TestOracles), written from the same documents, must give the same verdict as the decoder throughout.
/// </summary>
public sealed class WireFormatSchemaTests
{
    private const long Now = 1_790_000_000_000;

    /// <summary>Reasons for rules the schemas state in words only (their description), not as constraints.</summary>
    private static readonly HashSet<string> BeyondTheSchema = ["too-large", "ts-too-old", "ts-in-future", "invalid-utf8"];

    private static readonly JsonSchema V1 = Load(1);
    private static readonly JsonSchema V2 = Load(2);

    private readonly AdEventDecoder _decoder = new(new SymbolTable(), new AdEventDecoderOptions(), new FixedClock(Now));

    private static readonly string[] Valid =
    [
        """{"v":2,"id":"ev-1","type":"impression","ts":1789999999000,"campaign":"c-42","ad":"ad-7","placement":"slot-3","publisher":"pub-9","user":"u-123","country":"DE","device":"mobile","price_micros":2500000,"currency":"EUR"}""",
        """{"v":1,"id":"b-1","type":"bid","ts":1789999999000,"campaign":"c","ad":"a","slot":"s","publisher":"p","bid_micros":1200,"floor_micros":800}""",
        """{"v":2,"id":"w","type":"win","ts":1789999999000,"campaign":"c","ad":"a","placement":"s","publisher":"p","bid_micros":0,"price_micros":0,"user":null,"country":null,"device":null,"floor_micros":null}""",
        """{"v":2,"id":"k","type":"click","ts":1789999999000,"campaign":"🎯 café","ad":"a","placement":"s","publisher":"p","extra":{"nested":[1,{"x":null}]}}""",
        """{"v":1,"id":"c","type":"conversion","ts":1789999999000,"campaign":"c","ad":"a","slot":"s","publisher":"p","user":""}""",
    ];

    [Fact]
    public void Hand_written_events_and_every_bad_message_of_the_decoder_tests_get_the_same_verdict()
    {
        var cases = Valid.Select(v => (Message: v, Reason: "")).Concat(AdEventDecoderTests.Malformed().Select(row => ((string)row[0], (string)row[1]))).ToList();
        foreach (var (message, reason) in cases)
        {
            // The decoder tests write raw bytes as chars up to 0xFF (Latin-1); text beyond that is UTF-8.
            var bytes = message.Any(c => c > 0xFF) ? Encoding.UTF8.GetBytes(message) : Encoding.Latin1.GetBytes(message);
            Agree(bytes);
            Assert.Equal(reason.Length == 0, _decoder.TryDecode(bytes, out _, out _));
        }
    }

    [Fact]
    public void The_generators_traffic_gets_the_same_verdict()
    {
        var generator = new TrafficGenerator(new TrafficOptions { Seed = 9, StartTimeMs = Now - 3_600_000, MalformedFraction = 0.2, DuplicateFraction = 0.05 });
        foreach (var message in generator.Messages().Take(5_000))
        {
            Agree(message.Value);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Seeded_mutations_of_valid_events_get_the_same_verdict(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 5_000; i++)
        {
            var node = JsonNode.Parse(Valid[random.Next(Valid.Length)])!.AsObject();
            for (var changes = 1 + random.Next(3); changes > 0; changes--)
            {
                Mutate(node, random);
            }

            Agree(Encoding.UTF8.GetBytes(node.ToJsonString(new JsonSerializerOptions { Encoder = random.Next(2) == 0 ? System.Text.Encodings.Web.JavaScriptEncoder.Default : System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })));
        }
    }

    private static readonly string[] Fields = ["v", "id", "type", "ts", "campaign", "ad", "slot", "placement", "publisher", "user", "country", "device", "bid_micros", "floor_micros", "price_micros", "currency", "extra"];

    /// <summary>A value a producer might send by mistake, or on purpose: every JSON kind, edge numbers, odd text.</summary>
    private static JsonNode? AnyValue(Random random) => random.Next(24) switch
    {
        0 => null,
        1 => true,
        2 => 0,
        3 => -1,
        4 => long.MaxValue,
        5 => long.MinValue,
        6 => 1789999999000L + random.Next(-100_000_000, 100_000_000),
        7 => random.Next(1, 4),
        8 => "",
        9 => new string('x', random.Next(60, 70)),
        10 => new string('y', random.Next(250, 262)),
        11 => new[] { "bid", "win", "impression", "click", "conversion", "view", "Bid" }[random.Next(7)],
        12 => new[] { "desktop", "mobile", "tablet", "ctv", "other", "toaster" }[random.Next(6)],
        13 => new[] { "DE", "US", "de", "DEU", "D" }[random.Next(5)],
        14 => new[] { "USD", "EUR", "usd", "EURO" }[random.Next(4)],
        15 => new JsonArray(1, 2),
        16 => new JsonObject { ["a"] = 1 },
        17 => 2.5,
        18 => "🎯" + new string('é', random.Next(0, 3)),
        19 => "tab\tquote\"backslash\\",
        20 => string.Concat(Enumerable.Repeat("🎯", random.Next(60, 68))),
        21 => "\u0000\u001f",
        22 => 1000,
        _ => "plain-" + random.Next(100),
    };

    private static void Mutate(JsonObject node, Random random)
    {
        var field = Fields[random.Next(Fields.Length)];
        switch (random.Next(3))
        {
            case 0:
                node.Remove(field);
                break;
            default:
                node[field] = AnyValue(random);
                break;
        }
    }

    /// <summary>The decoder's verdict is the schema's (a rejection for a rule beyond the schema excepted); nothing throws.</summary>
    private void Agree(byte[] message)
    {
        var accepted = _decoder.TryDecode(message, out _, out var error);
        Assert.True(accepted || error.Reason.Length > 0, "a rejection names its reason");
        var valid = SchemaValid(message);
        if (accepted != valid && !(valid && BeyondTheSchema.Contains(error.Reason)))
        {
            Assert.Fail($"the decoder {(accepted ? "accepted" : $"rejected ({error.Reason}: {error.Detail})")} and the schema says {(valid ? "valid" : "invalid")}: {Encoding.UTF8.GetString(message)}");
        }

        // The tests' own reader, written from the documents alone, must come to the same verdict as both.
        var reference = ReferenceWireReader.Read(message, Now);
        if (reference.Accepted != accepted)
        {
            Assert.Fail($"the decoder {(accepted ? "accepted" : $"rejected ({error.Reason})")} and the reference reader {(reference.Accepted ? "accepted" : $"refused ({reference.Reason})")}: {Encoding.UTF8.GetString(message)}");
        }
    }

    private static bool SchemaValid(byte[] message)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(message, new JsonDocumentOptions { MaxDepth = 64 });
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return false; // not JSON: no schema accepts it
        }

        var schema = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("v", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var version) && version == 1 ? V1 : V2;
        try
        {
            return schema.Evaluate(root).IsValid;
        }
        catch (InvalidOperationException)
        {
            return false; // a string that is not UTF-8 text is no JSON string the schema can read
        }
    }

    private static JsonSchema Load(int version)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "StreamEngine.sln")))
        {
            directory = directory.Parent;
        }

        return JsonSchema.FromText(File.ReadAllText(Path.Combine(directory!.FullName, "docs", "schema", $"ad-event.v{version}.schema.json")));
    }
}
