using Apache.Arrow;
using Apache.Arrow.Types;
using BenchmarkDotNet.Attributes;
using StreamEngine.AdEvents;
using StreamEngine.Core.Windowing;
using StreamEngine.Jobs;
using StreamEngine.Runtime.Results;

namespace StreamEngine.Benchmarks;

/// <summary>
/// Building a checkpoint's result rows for <c>campaign_minute_results</c>: 10,000 window results of ad-metrics into
/// the Arrow batch, through the declared table (a delegate per cell) against the hand-written builders the job had
/// before declarations (one typed builder per column, filled in a loop). Each operation is one row. Then the same
/// results with eight changed breakdown parts each (a fifth of the windows updated twice in the batch) into
/// <c>campaign_breakdown_results</c>: each operation one result, about eight rows.
/// </summary>
[MemoryDiagnoser]
public class ResultRowsBenchmarks
{
    private const int Rows = 10_000;
    private WindowResult<int, CampaignMinute>[] _results = [];
    private WindowResult<int, CampaignMinute>[] _withParts = [];
    private ResultTable<int, CampaignMinute> _declared = null!;
    private ResultTable<int, CampaignMinute> _breakdown = null!;
    private Utf8Names _names = null!;

    [GlobalSetup]
    public void Setup()
    {
        var symbols = new SymbolTable();
        _names = new Utf8Names(symbols);
        var campaigns = Enumerable.Range(0, 500).Select(i => symbols.Intern($"cmp-{i:D4}")).ToArray();
        var random = new Random(7);
        _results = [.. Enumerable.Range(0, Rows).Select(i => new WindowResult<int, CampaignMinute>(
            campaigns[i % campaigns.Length], 1_790_000_000_000 + (i / campaigns.Length) * 60_000L, 0,
            new CampaignMinute(random.Next(1000), random.Next(300), random.Next(200), random.Next(20), random.Next(3), random.Next(1_000_000), random.Next(150)),
            random.Next(1, 5000), WindowEmission.Early, i % 12))];
        _declared = new AdMetricsJob().Results(_names)[0];
        _breakdown = new AdMetricsJob().Results(_names)[1];
        var ads = Enumerable.Range(0, 40).Select(i => symbols.Intern($"ad-{i:D3}")).ToArray();
        _withParts = [.. _results.Select((r, i) =>
        {
            // Results 0..1999 are updated again by results 8000..9999 (the same windows), as a paced catch-up leaves them.
            var window = i >= 8000 ? _results[i - 8000] : r;
            var parts = Enumerable.Range(0, 8).Select(p => KeyValuePair.Create(
                new BreakdownKey(ads[(i + p) % ads.Length], (ushort)(p % 3), (DeviceType)(1 + (p % 3))), new EventCounts(p, p, p + 1, 0, 0, p * 1000))).ToArray();
            return window with { Value = r.Value with { Breakdown = parts }, Version = r.Version + (i >= 8000 ? 10_000 : 0) };
        })];
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public int DeclaredBreakdownTable()
    {
        using var batch = _breakdown.ToRows(_withParts)!.Rows;
        return batch.Length;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public int HandWrittenBuilders()
    {
        using var batch = HandWritten(_results, _names);
        return batch.Length;
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public int DeclaredTable()
    {
        using var batch = _declared.ToRows(_results)!.Rows;
        return batch.Length;
    }

    /// <summary>The builders of AdMetricsJob before declarations (its ResultColumns), for the campaign table.</summary>
    private static RecordBatch HandWritten(IReadOnlyList<WindowResult<int, CampaignMinute>> results, Utf8Names names)
    {
        var windowStart = new TimestampArray.Builder(new TimestampType(TimeUnit.Millisecond, "UTC"));
        var campaign = new StringArray.Builder();
        var partition = new Int32Array.Builder();
        var counts = Enumerable.Range(0, 6).Select(_ => new UInt64Array.Builder()).ToArray();
        var spend = new Int64Array.Builder();
        var users = new UInt64Array.Builder();
        var final = new UInt8Array.Builder();
        foreach (var r in results.LatestPerWindow())
        {
            var v = r.Value;
            windowStart.Append(DateTimeOffset.FromUnixTimeMilliseconds(r.WindowStartMs));
            campaign.Append(names.Of(r.Key).AsSpan());
            partition.Append(Math.Max(0, r.Partition));
            counts[0].Append((ulong)v.Bids);
            counts[1].Append((ulong)v.Wins);
            counts[2].Append((ulong)v.Impressions);
            counts[3].Append((ulong)v.Clicks);
            counts[4].Append((ulong)v.Conversions);
            counts[5].Append((ulong)r.Version);
            spend.Append(v.SpendMicros);
            users.Append((ulong)v.UniqueUsers);
            final.Append(r.IsFinal ? (byte)1 : (byte)0);
        }

        return new RecordBatch.Builder()
            .Append("window_start", false, windowStart.Build())
            .Append("campaign", false, campaign.Build())
            .Append("source_partition", false, partition.Build())
            .Append("bids", false, counts[0].Build())
            .Append("wins", false, counts[1].Build())
            .Append("impressions", false, counts[2].Build())
            .Append("clicks", false, counts[3].Build())
            .Append("conversions", false, counts[4].Build())
            .Append("spend_micros", false, spend.Build())
            .Append("unique_users", false, users.Build())
            .Append("version", false, counts[5].Build())
            .Append("is_final", false, final.Build())
            .Build();
    }
}
