using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.AdEvents;

/// <summary>Limits the decoder checks beyond the wire format itself.</summary>
public sealed record AdEventDecoderOptions
{
    /// <summary>Messages larger than this are dead-lettered unread.</summary>
    public int MaxMessageBytes { get; init; } = 16 * 1024;

    /// <summary>Event times further ahead of the decoder's clock than this are outliers.</summary>
    public TimeSpan MaxFutureSkew { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Event times before this are outliers (default 2020-01-01 UTC).</summary>
    public DateTimeOffset EarliestEventTime { get; init; } = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Longest accepted identifier (campaign, ad, placement, publisher, user).</summary>
    public int MaxIdentifierLength { get; init; } = 256;
}

/// <summary>
/// Decodes the event wire format (DESIGN.md, "Event wire format") with <see cref="Utf8JsonReader"/>: no DOM, no
/// strings for known identifiers, v1 upcast to v2. Anything that is not a valid event comes back as a
/// <see cref="DecodeError"/> naming the reason; nothing throws for bad input. One decoder per thread.
/// </summary>
public sealed class AdEventDecoder
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16, CommentHandling = JsonCommentHandling.Disallow };
    private readonly AdEventDecoderOptions _options;
    private readonly SymbolTable _symbols;
    private readonly TimeProvider _clock;
    private readonly long _earliestMs;
    private long _futureLimitMs = long.MinValue; // the clock is read again only when an event time passes it
    private readonly byte[] _bytes;
    private readonly byte[] _nameBuffer = new byte[64];
    private readonly byte[] _enumBuffer = new byte[64];

    public AdEventDecoder(SymbolTable symbols, AdEventDecoderOptions? options = null, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        _symbols = symbols;
        _options = options ?? new AdEventDecoderOptions();
        _clock = clock ?? TimeProvider.System;
        _earliestMs = _options.EarliestEventTime.ToUnixTimeMilliseconds();
        _bytes = new byte[_options.MaxIdentifierLength * 12];
    }

    public SymbolTable Symbols => _symbols;

    /// <summary>Decodes one message value; on failure <paramref name="error"/> says why and the event is default.</summary>
    public bool TryDecode(ReadOnlySpan<byte> message, out AdEvent adEvent, out DecodeError error)
    {
        adEvent = default;
        if (message.IsEmpty)
        {
            error = new DecodeError("empty-message", "the message has no value");
            return false;
        }

        if (message.Length > _options.MaxMessageBytes)
        {
            error = new DecodeError("too-large", $"the message is {message.Length} bytes, over the limit of {_options.MaxMessageBytes}");
            return false;
        }

        try
        {
            return TryDecodeJson(message, out adEvent, out error);
        }
        catch (JsonException e)
        {
            error = new DecodeError("malformed-json", $"not valid JSON: {e.Message}");
            return false;
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader reports text that is not valid UTF-8 this way.
            error = new DecodeError("malformed-json", $"not valid UTF-8 text: {e.Message}");
            return false;
        }
    }

    private bool TryDecodeJson(ReadOnlySpan<byte> message, out AdEvent adEvent, out DecodeError error)
    {
        adEvent = default;
        var reader = new Utf8JsonReader(message, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            error = new DecodeError("not-an-object", "the message is not a JSON object");
            return false;
        }

        int version = 0;
        AdEventType type = 0;
        long? timestamp = null;
        UInt128? id = null;
        int campaign = 0, ad = 0, slot = 0, placement = 0, publisher = 0, currency = 0;
        ulong user = 0;
        ushort country = 0;
        var device = DeviceType.Unknown;
        long? bid = null, floor = null, price = null;

        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                break;
            }

            // Property name (unescaped when it needs it), then its value.
            var name = reader.ValueIsEscaped
                ? _nameBuffer.AsSpan(0, reader.ValueSpan.Length <= _nameBuffer.Length ? reader.CopyString(_nameBuffer) : 0)
                : reader.ValueSpan;
            reader.Read();

            switch (name.Length)
            {
                case 1 when name[0] == (byte)'v':
                    if (!ReadInt64(ref reader, "v", out var v, out error))
                    {
                        return false;
                    }

                    if (v is not (1 or 2))
                    {
                        error = new DecodeError("unknown-version", $"schema version {v} is not 1 or 2");
                        return false;
                    }

                    version = (int)v;
                    break;
                case 2 when name.SequenceEqual("id"u8):
                    if (!ReadId(ref reader, out var idHash, out error))
                    {
                        return false;
                    }

                    id = idHash;
                    break;
                case 4 when name.SequenceEqual("type"u8):
                    if (!ReadType(ref reader, out type, out error))
                    {
                        return false;
                    }

                    break;
                case 2 when name.SequenceEqual("ts"u8):
                    if (!ReadInt64(ref reader, "ts", out var ts, out error))
                    {
                        return false;
                    }

                    timestamp = ts;
                    break;
                case 8 when name.SequenceEqual("campaign"u8):
                    if (!ReadSymbol(ref reader, "campaign", out campaign, out error))
                    {
                        return false;
                    }

                    break;
                case 2 when name.SequenceEqual("ad"u8):
                    if (!ReadSymbol(ref reader, "ad", out ad, out error))
                    {
                        return false;
                    }

                    break;
                case 4 when name.SequenceEqual("slot"u8):
                    if (!ReadSymbol(ref reader, "slot", out slot, out error))
                    {
                        return false;
                    }

                    break;
                case 9 when name.SequenceEqual("placement"u8):
                    if (!ReadSymbol(ref reader, "placement", out placement, out error))
                    {
                        return false;
                    }

                    break;
                case 9 when name.SequenceEqual("publisher"u8):
                    if (!ReadSymbol(ref reader, "publisher", out publisher, out error))
                    {
                        return false;
                    }

                    break;
                case 4 when name.SequenceEqual("user"u8):
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    if (!ReadBytes(ref reader, "user", out var userBytes, out error))
                    {
                        return false;
                    }

                    user = userBytes.IsEmpty ? 0 : Math.Max(1, XxHash3.HashToUInt64(userBytes));
                    break;
                case 7 when name.SequenceEqual("country"u8):
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    if (!ReadCode(ref reader, "country", 2, out var countryCode, out error))
                    {
                        return false;
                    }

                    country = (ushort)countryCode;
                    break;
                case 8 when name.SequenceEqual("currency"u8):
                    if (!ReadCode(ref reader, "currency", 3, out currency, out error))
                    {
                        return false;
                    }

                    break;
                case 6 when name.SequenceEqual("device"u8):
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    if (!ReadDevice(ref reader, out device, out error))
                    {
                        return false;
                    }

                    break;
                case 10 when name.SequenceEqual("bid_micros"u8):
                    if (!ReadPrice(ref reader, "bid_micros", out var b, out error))
                    {
                        return false;
                    }

                    bid = b;
                    break;
                case 12 when name.SequenceEqual("floor_micros"u8):
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    if (!ReadPrice(ref reader, "floor_micros", out var f, out error))
                    {
                        return false;
                    }

                    floor = f;
                    break;
                case 12 when name.SequenceEqual("price_micros"u8):
                    if (!ReadPrice(ref reader, "price_micros", out var p, out error))
                    {
                        return false;
                    }

                    price = p;
                    break;
                default:
                    reader.Skip(); // unknown fields are ignored (the contract)
                    break;
            }
        }

        // The whole message must be one object: trailing content is malformed.
        if (reader.Read())
        {
            error = new DecodeError("malformed-json", "content after the JSON object");
            return false;
        }

        if (!Complete(version, id, type, timestamp, campaign, ad, version == 1 ? slot : placement, publisher, bid, price, out error))
        {
            return false;
        }

        if (version == 1 && currency != 0)
        {
            error = new DecodeError("invalid-field", "field 'currency' exists only in schema version 2 (v1 events are USD)");
            return false;
        }

        adEvent = new AdEvent
        {
            Id = id!.Value,
            Type = type,
            SchemaVersion = (byte)version,
            TimestampMs = timestamp!.Value,
            Campaign = campaign,
            Ad = ad,
            Placement = version == 1 ? slot : placement,
            Publisher = publisher,
            UserHash = user,
            Country = country,
            Device = device,
            Currency = currency == 0 ? Codes.Usd : currency,
            BidMicros = bid ?? 0,
            FloorMicros = floor ?? -1,
            PriceMicros = price ?? 0,
        };
        return true;
    }

    private bool Complete(int version, UInt128? id, AdEventType type, long? timestamp, int campaign, int ad, int placement, int publisher, long? bid, long? price, out DecodeError error)
    {
        error = default;
        if (version == 0)
        {
            error = DecodeError.Missing("v");
        }
        else if (id is null)
        {
            error = DecodeError.Missing("id");
        }
        else if (type == 0)
        {
            error = DecodeError.Missing("type");
        }
        else if (timestamp is not { } ts)
        {
            error = DecodeError.Missing("ts");
        }
        else if (ts < _earliestMs)
        {
            error = new DecodeError("ts-too-old", $"event time {ts} is before {_options.EarliestEventTime:O}");
        }
        else if (ts > _futureLimitMs && ts > (_futureLimitMs = _clock.GetUtcNow().ToUnixTimeMilliseconds() + (long)_options.MaxFutureSkew.TotalMilliseconds))
        {
            error = new DecodeError("ts-in-future", $"event time {ts} is more than {_options.MaxFutureSkew} ahead of now");
        }
        else if (campaign == 0)
        {
            error = DecodeError.Missing("campaign");
        }
        else if (ad == 0)
        {
            error = DecodeError.Missing("ad");
        }
        else if (placement == 0)
        {
            error = DecodeError.Missing(version == 1 ? "slot" : "placement");
        }
        else if (publisher == 0)
        {
            error = DecodeError.Missing("publisher");
        }
        else if (type is AdEventType.Bid or AdEventType.Win && bid is null)
        {
            error = DecodeError.Missing("bid_micros");
        }
        else if (type is AdEventType.Win or AdEventType.Impression && price is null)
        {
            error = DecodeError.Missing("price_micros");
        }
        else
        {
            return true;
        }

        return false;
    }

    private static bool ReadInt64(ref Utf8JsonReader reader, string field, out long value, out DecodeError error)
    {
        error = default;
        value = 0;
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out value))
        {
            error = DecodeError.WrongType(field, "a whole number");
            return false;
        }

        return true;
    }

    private static bool ReadPrice(ref Utf8JsonReader reader, string field, out long value, out DecodeError error)
    {
        if (!ReadInt64(ref reader, field, out value, out error))
        {
            return false;
        }

        if (value < 0)
        {
            error = new DecodeError("negative-price", $"field '{field}' is negative ({value})");
            return false;
        }

        return true;
    }

    /// <summary>
    /// The value's unescaped UTF-8 bytes (a view of the message when nothing was escaped), at most
    /// <paramref name="maxChars"/> characters (the identifier limit by default), else <paramref name="tooLong"/>.
    /// </summary>
    private bool ReadBytes(ref Utf8JsonReader reader, string field, out ReadOnlySpan<byte> value, out DecodeError error, int maxChars = 0, string tooLong = "field-too-long")
    {
        error = default;
        value = default;
        maxChars = maxChars > 0 ? maxChars : _options.MaxIdentifierLength;
        if (reader.TokenType != JsonTokenType.String)
        {
            error = DecodeError.WrongType(field, "a string");
            return false;
        }

        // A character takes at most 12 bytes escaped (a surrogate pair); anything longer than that is too long unread.
        if (reader.ValueSpan.Length > Math.Min(_bytes.Length, maxChars * 12))
        {
            error = new DecodeError(tooLong, $"field '{field}' is longer than {maxChars} characters");
            return false;
        }

        if (!TryUnescape(ref reader, _bytes, out value) || !Utf8.IsValid(value))
        {
            // Kept strings become campaign, slot and user names in ClickHouse, NATS and the hub: text only.
            error = new DecodeError("invalid-utf8", $"field '{field}' is not valid UTF-8 text");
            return false;
        }

        // Characters are Unicode code points (as JSON Schema's maxLength counts them); UTF-8 never has fewer bytes
        // than code points, so only long values need counting.
        if (value.Length > maxChars && CodePoints(value) > maxChars)
        {
            error = new DecodeError(tooLong, $"field '{field}' is longer than {maxChars} characters");
            return false;
        }

        return true;
    }

    /// <summary>Code points of valid UTF-8: every byte that does not continue a sequence starts one.</summary>
    private static int CodePoints(ReadOnlySpan<byte> utf8)
    {
        var count = 0;
        foreach (var b in utf8)
        {
            count += (b & 0xC0) != 0x80 ? 1 : 0;
        }

        return count;
    }

    /// <summary>
    /// The string's bytes with JSON escapes resolved (a view of the message when there are none), into
    /// <paramref name="buffer"/>; false when it does not fit or an escape is not valid text (a lone surrogate).
    /// </summary>
    private static bool TryUnescape(ref Utf8JsonReader reader, Span<byte> buffer, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!reader.ValueIsEscaped)
        {
            value = reader.ValueSpan;
            return true;
        }

        // Unescaped text is never longer than its escaped form.
        if (reader.ValueSpan.Length > buffer.Length)
        {
            return false;
        }

        try
        {
            value = buffer[..reader.CopyString(buffer)];
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>An enum-like value (type, device, a code) unescaped, so "impressio\u006e" is "impression"; empty when it cannot be.</summary>
    private static ReadOnlySpan<byte> EnumText(ref Utf8JsonReader reader, Span<byte> buffer) =>
        TryUnescape(ref reader, buffer, out var value) ? value : [];

    private bool ReadId(ref Utf8JsonReader reader, out UInt128 id, out DecodeError error)
    {
        id = default;
        if (!ReadBytes(ref reader, "id", out var bytes, out error, maxChars: 64, tooLong: "invalid-id"))
        {
            return false;
        }

        if (bytes.IsEmpty)
        {
            error = new DecodeError("invalid-id", "field 'id' must have 1 to 64 characters, not 0");
            return false;
        }

        id = XxHash128.HashToUInt128(bytes);
        return true;
    }

    private bool ReadSymbol(ref Utf8JsonReader reader, string field, out int symbol, out DecodeError error)
    {
        symbol = 0;
        if (!ReadBytes(ref reader, field, out var bytes, out error))
        {
            return false;
        }

        if (bytes.IsEmpty)
        {
            error = new DecodeError("invalid-field", $"field '{field}' is empty");
            return false;
        }

        symbol = _symbols.InternUtf8(bytes);
        return true;
    }

    private bool ReadType(ref Utf8JsonReader reader, out AdEventType type, out DecodeError error)
    {
        error = default;
        type = 0;
        if (reader.TokenType != JsonTokenType.String)
        {
            error = DecodeError.WrongType("type", "a string");
            return false;
        }

        var value = EnumText(ref reader, _enumBuffer);
        type = value switch
        {
            _ when value.SequenceEqual("bid"u8) => AdEventType.Bid,
            _ when value.SequenceEqual("win"u8) => AdEventType.Win,
            _ when value.SequenceEqual("impression"u8) => AdEventType.Impression,
            _ when value.SequenceEqual("click"u8) => AdEventType.Click,
            _ when value.SequenceEqual("conversion"u8) => AdEventType.Conversion,
            _ => 0,
        };
        if (type == 0)
        {
            error = new DecodeError("unknown-type", $"event type '{Printable(value)}' is not bid, win, impression, click or conversion");
            return false;
        }

        return true;
    }

    private bool ReadDevice(ref Utf8JsonReader reader, out DeviceType device, out DecodeError error)
    {
        error = default;
        device = DeviceType.Unknown;
        if (reader.TokenType != JsonTokenType.String)
        {
            error = DecodeError.WrongType("device", "a string");
            return false;
        }

        var value = EnumText(ref reader, _enumBuffer);
        device = value switch
        {
            _ when value.SequenceEqual("desktop"u8) => DeviceType.Desktop,
            _ when value.SequenceEqual("mobile"u8) => DeviceType.Mobile,
            _ when value.SequenceEqual("tablet"u8) => DeviceType.Tablet,
            _ when value.SequenceEqual("ctv"u8) => DeviceType.Ctv,
            _ when value.SequenceEqual("other"u8) => DeviceType.Other,
            _ => DeviceType.Unknown,
        };
        if (device == DeviceType.Unknown)
        {
            error = new DecodeError("invalid-field", $"device '{Printable(value)}' is not desktop, mobile, tablet, ctv or other");
            return false;
        }

        return true;
    }

    /// <summary>A code of <paramref name="length"/> upper-case ASCII letters (ISO 3166 alpha-2, ISO 4217), packed.</summary>
    private bool ReadCode(ref Utf8JsonReader reader, string field, int length, out int code, out DecodeError error)
    {
        error = default;
        code = 0;
        if (reader.TokenType != JsonTokenType.String)
        {
            error = DecodeError.WrongType(field, "a string");
            return false;
        }

        var value = EnumText(ref reader, _enumBuffer);
        if (value.Length != length || value.ContainsAnyExceptInRange((byte)'A', (byte)'Z'))
        {
            error = new DecodeError("invalid-field", $"field '{field}' must be {length} upper-case letters, not '{Printable(value)}'");
            return false;
        }

        foreach (var letter in value)
        {
            code = (code << 8) | letter;
        }

        return true;
    }

    private static string Printable(ReadOnlySpan<byte> value)
    {
        var text = Encoding.UTF8.GetString(value[..Math.Min(value.Length, 40)]);
        return value.Length > 40 ? text + "..." : text;
    }
}
