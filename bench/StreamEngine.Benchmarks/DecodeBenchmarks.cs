using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BenchmarkDotNet.Attributes;
using StreamEngine.AdEvents;

namespace StreamEngine.Benchmarks;

/// <summary>
/// Decoding the wire format, per message: the engine's decoder against System.Text.Json's serializer into a
/// class (what a job would write without thinking) on the same 100,000 messages (v1 and v2 mixed, ~230 bytes).
/// </summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    private const int Count = 100_000;
    private static readonly string[] Types = ["bid", "bid", "bid", "win", "impression", "impression", "click", "conversion"];
    private byte[][] _messages = [];
    private AdEventDecoder _decoder = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _messages = new byte[Count][];
        for (var i = 0; i < Count; i++)
        {
            var type = Types[i % Types.Length];
            var v = i % 3 == 0 ? 1 : 2;
            var slot = v == 1 ? "slot" : "placement";
            var prices = type switch
            {
                "bid" => $",\"bid_micros\":{random.Next(1000, 9_000_000)},\"floor_micros\":{random.Next(100, 1000)}",
                "win" => $",\"bid_micros\":{random.Next(1000, 9_000_000)},\"price_micros\":{random.Next(1000, 9_000_000)}",
                "impression" => $",\"price_micros\":{random.Next(1000, 9_000_000)}",
                _ => "",
            };
            var currency = v == 2 ? ",\"currency\":\"USD\"" : "";
            _messages[i] = Encoding.UTF8.GetBytes(
                $"{{\"v\":{v},\"id\":\"ev-{i:D12}\",\"type\":\"{type}\",\"ts\":{BenchInput.Start + i},\"campaign\":\"cmp-{random.Next(500):D4}\",\"ad\":\"ad-{random.Next(3000):D5}\"," +
                $"\"{slot}\":\"slot-{random.Next(800):D4}\",\"publisher\":\"pub-{random.Next(120):D3}\",\"user\":\"u{random.Next(100_000):D6}\",\"country\":\"US\",\"device\":\"mobile\"{prices}{currency}}}");
        }

        _decoder = new AdEventDecoder(new SymbolTable(), clock: new FixedClock(BenchInput.Start));
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Count)]
    public long EngineDecoder()
    {
        long sum = 0;
        foreach (var message in _messages)
        {
            if (_decoder.TryDecode(message, out var e, out _))
            {
                sum += e.Campaign;
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Count)]
    public long JsonSerializerToClass()
    {
        long sum = 0;
        foreach (var message in _messages)
        {
            var e = JsonSerializer.Deserialize(message, WireContext.Default.WireEvent);
            sum += e!.Campaign!.Length;
        }

        return sum;
    }

    private sealed class FixedClock(long nowMs) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
    }
}

/// <summary>The wire event as a plain class, for the serializer peer.</summary>
public sealed class WireEvent
{
    [JsonPropertyName("v")] public int Version { get; set; }
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("ts")] public long Ts { get; set; }
    [JsonPropertyName("campaign")] public string? Campaign { get; set; }
    [JsonPropertyName("ad")] public string? Ad { get; set; }
    [JsonPropertyName("slot")] public string? Slot { get; set; }
    [JsonPropertyName("placement")] public string? Placement { get; set; }
    [JsonPropertyName("publisher")] public string? Publisher { get; set; }
    [JsonPropertyName("user")] public string? User { get; set; }
    [JsonPropertyName("country")] public string? Country { get; set; }
    [JsonPropertyName("device")] public string? Device { get; set; }
    [JsonPropertyName("bid_micros")] public long? BidMicros { get; set; }
    [JsonPropertyName("floor_micros")] public long? FloorMicros { get; set; }
    [JsonPropertyName("price_micros")] public long? PriceMicros { get; set; }
    [JsonPropertyName("currency")] public string? Currency { get; set; }
}

[JsonSerializable(typeof(WireEvent))]
internal sealed partial class WireContext : JsonSerializerContext;
