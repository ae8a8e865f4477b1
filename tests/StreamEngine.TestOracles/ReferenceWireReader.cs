using System.Text.Json;
using System.Text.RegularExpressions;

namespace StreamEngine.TestOracles;

/// <summary>
/// A reader of the event wire format written for the tests from its contract (docs/wire-format.md and the schemas
/// in docs/schema/), sharing nothing with the engine's decoder: a DOM parse (System.Text.Json's JsonDocument, not a
/// forward-only reader), then each rule in the order the document lists them. It is slow and plain on purpose; the
/// engine's decoder is fast and clever, and the two are held to each other and to the schemas.
/// Reasons are the contract's dead-letter reasons; where a message breaks several rules, only "refused" is
/// promised to agree with the engine, not which reason is named.
/// </summary>
public static partial class ReferenceWireReader
{
    /// <summary>The contract's size limit of a message.</summary>
    public const int MaxMessageBytes = 16 * 1024;

    /// <summary>2020-01-01 UTC: event times before are refused.</summary>
    public const long EarliestTimestampMs = 1_577_836_800_000;

    private static readonly JsonDocumentOptions Strict = new() { MaxDepth = 16, CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false };
    private static readonly HashSet<string> Types = ["bid", "win", "impression", "click", "conversion"];
    private static readonly HashSet<string> Devices = ["desktop", "mobile", "tablet", "ctv", "other"];

    /// <summary>
    /// Reads one message's value. <paramref name="nowMs"/> is the reader's clock, for the rule that an event is at
    /// most an hour ahead of it.
    /// </summary>
    public static WireVerdict Read(ReadOnlyMemory<byte> message, long nowMs)
    {
        if (message.Length == 0)
        {
            return WireVerdict.Refused("empty-message");
        }

        if (message.Length > MaxMessageBytes)
        {
            return WireVerdict.Refused("too-large");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(message, Strict);
        }
        catch (JsonException)
        {
            return WireVerdict.Refused("malformed-json");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return WireVerdict.Refused("not-an-object");
            }

            // A repeated name: the last one counts.
            var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                string name;
                try
                {
                    name = property.Name;
                }
                catch (InvalidOperationException)
                {
                    continue; // a name that is no text is no field of the contract: ignored, as unknown fields are
                }

                fields[name] = property.Value;
            }

            try
            {
                return new WireVerdict(ReadFields(fields, nowMs), null);
            }
            catch (RefusedException refused)
            {
                return WireVerdict.Refused(refused.Reason);
            }
        }
    }

    private static WireEvent ReadFields(Dictionary<string, JsonElement> fields, long nowMs)
    {
        var version = Integer(Required(fields, "v"));
        if (version is not (1 or 2))
        {
            throw new RefusedException("unknown-version");
        }

        var id = Text(Required(fields, "id"));
        if (CodePoints(id) is < 1 or > 64)
        {
            throw new RefusedException("invalid-id");
        }

        var type = Text(Required(fields, "type"));
        if (!Types.Contains(type))
        {
            throw new RefusedException("unknown-type");
        }

        var timestamp = Integer(Required(fields, "ts"));
        if (timestamp < EarliestTimestampMs)
        {
            throw new RefusedException("ts-too-old");
        }

        if (timestamp > nowMs + 3_600_000)
        {
            throw new RefusedException("ts-in-future");
        }

        var campaign = Identifier(Required(fields, "campaign"));
        var ad = Identifier(Required(fields, "ad"));
        var (slotName, otherSlotName) = version == 1 ? ("slot", "placement") : ("placement", "slot");
        var slot = Identifier(Required(fields, slotName));
        if (fields.TryGetValue(otherSlotName, out var other))
        {
            Identifier(other);
        }

        var publisher = Identifier(Required(fields, "publisher"));
        var user = OptionalText(fields, "user");
        if (user is not null && CodePoints(user) > 256)
        {
            throw new RefusedException("field-too-long");
        }

        var country = OptionalText(fields, "country");
        if (country is not null && !CountryCode().IsMatch(country))
        {
            throw new RefusedException("invalid-field");
        }

        var device = OptionalText(fields, "device");
        if (device is not null && !Devices.Contains(device))
        {
            throw new RefusedException("invalid-field");
        }

        var bid = Price(fields, "bid_micros", required: type is "bid" or "win", nullable: false);
        var floor = Price(fields, "floor_micros", required: false, nullable: true);
        var price = Price(fields, "price_micros", required: type is "win" or "impression", nullable: false);
        var currency = "USD";
        if (fields.TryGetValue("currency", out var currencyField))
        {
            // v1 has no currency field: its prices are USD, and saying otherwise is an error.
            currency = version == 1 ? throw new RefusedException("invalid-field") : Text(currencyField);
            if (!CurrencyCode().IsMatch(currency))
            {
                throw new RefusedException("invalid-field");
            }
        }

        return new WireEvent((int)version, id, type, timestamp, campaign, ad, slot, publisher, string.IsNullOrEmpty(user) ? null : user, country, device,
            bid, floor, price, currency);
    }

    private static JsonElement Required(Dictionary<string, JsonElement> fields, string name) =>
        fields.TryGetValue(name, out var value) ? value : throw new RefusedException("missing-field");

    /// <summary>A JSON integer written as one: digits, no fraction, no exponent, within int64.</summary>
    private static long Integer(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number && IntegerLiteral().IsMatch(value.GetRawText()) && value.TryGetInt64(out var number)
            ? number
            : throw new RefusedException("wrong-type");

    private static string Text(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new RefusedException("wrong-type");
        }

        string text;
        try
        {
            text = value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new RefusedException("invalid-utf8");
        }

        // An escaped lone surrogate ("\ud800") parses, but it is no Unicode text.
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                throw new RefusedException("invalid-utf8");
            }
        }

        return text;
    }

    private static string Identifier(JsonElement value)
    {
        var text = Text(value);
        return CodePoints(text) switch
        {
            0 => throw new RefusedException("invalid-field"),
            > 256 => throw new RefusedException("field-too-long"),
            _ => text,
        };
    }

    private static string? OptionalText(Dictionary<string, JsonElement> fields, string name) =>
        !fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null ? null : Text(value);

    private static long? Price(Dictionary<string, JsonElement> fields, string name, bool required, bool nullable)
    {
        if (!fields.TryGetValue(name, out var value) || (nullable && value.ValueKind == JsonValueKind.Null))
        {
            return required ? throw new RefusedException("missing-field") : null;
        }

        var micros = Integer(value);
        return micros < 0 ? throw new RefusedException("negative-price") : micros;
    }

    private static int CodePoints(string text) => text.EnumerateRunes().Count();

    [GeneratedRegex("^-?(0|[1-9][0-9]*)$")]
    private static partial Regex IntegerLiteral();

    [GeneratedRegex("^[A-Z]{2}$")]
    private static partial Regex CountryCode();

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyCode();

    private sealed class RefusedException(string reason) : Exception(reason)
    {
        public string Reason { get; } = reason;
    }
}
