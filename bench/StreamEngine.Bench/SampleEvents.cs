using System.Text;

namespace StreamEngine.Bench;

/// <summary>Ad events shaped like the wire contract, about 200 bytes of JSON each, deterministic.</summary>
internal static class SampleEvents
{
    private static readonly string[] Types = ["bid", "bid", "bid", "bid", "win", "impression", "impression", "click", "conversion"];
    private static readonly string[] Countries = ["US", "DE", "FR", "GB", "BR", "JP", "IN", "CA"];
    private static readonly string[] Devices = ["desktop", "mobile", "tablet", "ctv", "other"];

    public static string Campaign(int i) => $"cmp-{(i * 7919) % 500:D4}";

    public static byte[] Json(int i)
    {
        var ts = 1_790_000_000_000L + i * 3L;
        var json = $"{{\"v\":2,\"id\":\"ev-{i:D12}\",\"type\":\"{Types[i % Types.Length]}\",\"ts\":{ts},\"campaign\":\"{Campaign(i)}\"," +
                   $"\"ad\":\"ad-{i % 3000:D5}\",\"placement\":\"slot-{i % 800:D4}\",\"publisher\":\"pub-{i % 120:D3}\"," +
                   $"\"user\":\"u{(i * 31) % 100000:D6}\",\"country\":\"{Countries[i % Countries.Length]}\",\"device\":\"{Devices[i % Devices.Length]}\",\"price_micros\":{1000 + i % 9000}}}";
        return Encoding.UTF8.GetBytes(json);
    }
}
