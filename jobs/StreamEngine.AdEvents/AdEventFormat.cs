using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.AdEvents;

/// <summary>
/// The event wire format as the runtime's sources and side outputs use it: reads with <see cref="AdEventDecoder"/>
/// (ids interned in <paramref name="symbols"/>), writes late records in the v2 format (the id as the 128-bit hash the
/// engine keeps, <c>id_hash</c>), keyed by campaign.
/// </summary>
public sealed class AdEventFormat(SymbolTable symbols, AdEventDecoderOptions? options = null) : IEventFormat<AdEvent>
{
    private readonly AdEventDecoder _decoder = new(symbols, options);

    public bool TryDecode(ReadOnlySpan<byte> message, long offset, out AdEvent value, out DecodeError reason)
    {
        if (_decoder.TryDecode(message, out value, out reason))
        {
            value = value with { SourceOffset = offset };
            return true;
        }

        return false;
    }

    public long OffsetOf(in AdEvent value) => value.SourceOffset;

    public byte[] Encode(in AdEvent value, IBufferWriter<byte> output)
    {
        var e = value;
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            json.WriteNumber("v", 2);
            json.WriteString("id_hash", e.Id.ToString("x32", CultureInfo.InvariantCulture));
            json.WriteString("type", e.Type.ToString().ToLowerInvariant());
            json.WriteNumber("ts", e.TimestampMs);
            json.WriteString("campaign", symbols.Name(e.Campaign));
            json.WriteString("ad", symbols.Name(e.Ad));
            json.WriteString("placement", symbols.Name(e.Placement));
            json.WriteString("publisher", symbols.Name(e.Publisher));
            if (e.Country != 0)
            {
                json.WriteString("country", Codes.Unpack(e.Country));
            }

            if (e.Device != DeviceType.Unknown)
            {
                json.WriteString("device", e.Device.ToString().ToLowerInvariant());
            }

            json.WriteNumber("bid_micros", e.BidMicros);
            json.WriteNumber("price_micros", e.PriceMicros);
            if (e.FloorMicros >= 0)
            {
                json.WriteNumber("floor_micros", e.FloorMicros);
            }

            json.WriteString("currency", Codes.Unpack(e.Currency));
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetBytes(symbols.Name(e.Campaign));
    }
}
