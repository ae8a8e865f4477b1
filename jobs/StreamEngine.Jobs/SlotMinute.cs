using StreamEngine.AdEvents;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Sketches;

namespace StreamEngine.Jobs;

/// <summary>
/// One slot's minute in one source partition: counts, the bid and clearing-price distributions as mergeable
/// log-bucket histograms (1% relative accuracy), floor statistics and the bid density in fixed CPM steps.
/// Partials of the same slot and minute from other partitions add up bucket by bucket.
/// </summary>
public sealed record SlotMinute(
    long Bids,
    long Wins,
    IReadOnlyList<(int Bucket, long Count)> BidBuckets,
    IReadOnlyList<(int Bucket, long Count)> ClearingBuckets,
    long FloorCount,
    long FloorSumMicros,
    long FloorMinMicros,
    long FloorMaxMicros,
    IReadOnlyList<(long LowerBoundMicros, long Count)> BidDensity);

/// <summary>The running state of a slot's minute.</summary>
public sealed class SlotCounters
{
    public long Bids { get; set; }

    public long Wins { get; set; }

    public QuantileSketch BidPrices { get; init; } = new(SlotMinuteAggregator.RelativeAccuracy);

    public QuantileSketch ClearingPrices { get; init; } = new(SlotMinuteAggregator.RelativeAccuracy);

    public long FloorCount { get; set; }

    public long FloorSumMicros { get; set; }

    public long FloorMinMicros { get; set; } = long.MaxValue;

    public long FloorMaxMicros { get; set; } = long.MinValue;

    /// <summary>Bids per density step (<see cref="SlotMinuteAggregator.DensityStepMicros"/>); the last step holds everything above.</summary>
    public long[] Density { get; init; } = new long[SlotMinuteAggregator.DensitySteps];
}

/// <summary>
/// Bid landscape per slot: bids (with their prices and floors) and wins (with their clearing prices). Impressions,
/// clicks and conversions do not change a slot's landscape and are left out.
/// </summary>
public sealed class SlotMinuteAggregator : IAggregator<AdEvent, SlotCounters, SlotMinute>
{
    /// <summary>The sketches' relative accuracy; the view's SQL uses the same gamma.</summary>
    public const double RelativeAccuracy = 0.01;

    /// <summary>Density steps of 0.25 CPM (in micros) from 0 to 20 CPM, the last one open-ended.</summary>
    public const long DensityStepMicros = 250_000;

    public const int DensitySteps = 81;

    public SlotCounters Create() => new();

    public void Add(ref SlotCounters accumulator, in AdEvent item)
    {
        switch (item.Type)
        {
            case AdEventType.Bid:
                accumulator.Bids++;
                accumulator.BidPrices.Add(item.BidMicros);
                accumulator.Density[(int)Math.Min(item.BidMicros / DensityStepMicros, DensitySteps - 1)]++;
                if (item.FloorMicros >= 0)
                {
                    accumulator.FloorCount++;
                    accumulator.FloorSumMicros += item.FloorMicros;
                    accumulator.FloorMinMicros = Math.Min(accumulator.FloorMinMicros, item.FloorMicros);
                    accumulator.FloorMaxMicros = Math.Max(accumulator.FloorMaxMicros, item.FloorMicros);
                }

                break;
            case AdEventType.Win:
                accumulator.Wins++;
                accumulator.ClearingPrices.Add(item.PriceMicros);
                break;
        }
    }

    public void Merge(ref SlotCounters into, SlotCounters other)
    {
        into.Bids += other.Bids;
        into.Wins += other.Wins;
        into.BidPrices.Merge(other.BidPrices);
        into.ClearingPrices.Merge(other.ClearingPrices);
        into.FloorCount += other.FloorCount;
        into.FloorSumMicros += other.FloorSumMicros;
        into.FloorMinMicros = Math.Min(into.FloorMinMicros, other.FloorMinMicros);
        into.FloorMaxMicros = Math.Max(into.FloorMaxMicros, other.FloorMaxMicros);
        for (var i = 0; i < DensitySteps; i++)
        {
            into.Density[i] += other.Density[i];
        }
    }

    public SlotMinute Result(SlotCounters accumulator) => new(
        accumulator.Bids,
        accumulator.Wins,
        WithZeros(accumulator.BidPrices),
        WithZeros(accumulator.ClearingPrices),
        accumulator.FloorCount,
        accumulator.FloorSumMicros,
        accumulator.FloorCount == 0 ? 0 : accumulator.FloorMinMicros,
        accumulator.FloorCount == 0 ? 0 : accumulator.FloorMaxMicros,
        [.. accumulator.Density.Select((count, step) => (step * DensityStepMicros, count)).Where(d => d.count > 0)]);

    public void Write(BinaryWriter writer, SlotCounters accumulator)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(accumulator);
        writer.Write(accumulator.Bids);
        writer.Write(accumulator.Wins);
        accumulator.BidPrices.Write(writer);
        accumulator.ClearingPrices.Write(writer);
        writer.Write(accumulator.FloorCount);
        writer.Write(accumulator.FloorSumMicros);
        writer.Write(accumulator.FloorMinMicros);
        writer.Write(accumulator.FloorMaxMicros);
        foreach (var count in accumulator.Density)
        {
            writer.Write(count);
        }
    }

    public SlotCounters Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var counters = new SlotCounters
        {
            Bids = reader.ReadInt64(),
            Wins = reader.ReadInt64(),
            BidPrices = QuantileSketch.Read(reader),
            ClearingPrices = QuantileSketch.Read(reader),
            FloorCount = reader.ReadInt64(),
            FloorSumMicros = reader.ReadInt64(),
            FloorMinMicros = reader.ReadInt64(),
            FloorMaxMicros = reader.ReadInt64(),
        };
        for (var i = 0; i < DensitySteps; i++)
        {
            counters.Density[i] = reader.ReadInt64();
        }

        return counters;
    }

    /// <summary>Zero is the bucket <see cref="ZeroBucket"/> (it has no logarithm), then the sketch's buckets.</summary>
    private static List<(int Bucket, long Count)> WithZeros(QuantileSketch sketch) =>
        sketch.ZeroCount > 0 ? [(ZeroBucket, sketch.ZeroCount), .. sketch.Buckets()] : [.. sketch.Buckets()];

    /// <summary>The bucket key that stands for the value 0 in ClickHouse.</summary>
    public const int ZeroBucket = short.MinValue;
}
