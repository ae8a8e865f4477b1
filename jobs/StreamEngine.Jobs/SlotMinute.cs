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

    /// <summary>
    /// Marks the compact snapshot layout (varints, the sketches' compact form, only the density steps with bids): about
    /// a tenth of the fixed one's kilobyte for a slot's minute of a few dozen bids. The fixed layout, which older
    /// snapshots have, starts with the bid count, never negative.
    /// </summary>
    private const long CompactLayout = -1;

    public void Write(BinaryWriter writer, SlotCounters accumulator)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(accumulator);
        writer.Write(CompactLayout);
        writer.Write7BitEncodedInt64(accumulator.Bids);
        writer.Write7BitEncodedInt64(accumulator.Wins);
        accumulator.BidPrices.WriteCompact(writer);
        accumulator.ClearingPrices.WriteCompact(writer);
        writer.Write7BitEncodedInt64(accumulator.FloorCount);
        writer.Write7BitEncodedInt64(accumulator.FloorSumMicros);
        writer.Write7BitEncodedInt64(accumulator.FloorMinMicros);
        writer.Write7BitEncodedInt64(accumulator.FloorMaxMicros);
        writer.Write((byte)accumulator.Density.Count(count => count != 0));
        for (var step = 0; step < DensitySteps; step++)
        {
            if (accumulator.Density[step] is var count and not 0)
            {
                writer.Write((byte)step);
                writer.Write7BitEncodedInt64(count);
            }
        }
    }

    public SlotCounters Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var first = reader.ReadInt64();
        return first == CompactLayout ? ReadCompact(reader) : ReadFixed(reader, bids: first);
    }

    private static SlotCounters ReadCompact(BinaryReader reader)
    {
        var counters = new SlotCounters
        {
            Bids = reader.Read7BitEncodedInt64(),
            Wins = reader.Read7BitEncodedInt64(),
            BidPrices = QuantileSketch.ReadCompact(reader),
            ClearingPrices = QuantileSketch.ReadCompact(reader),
            FloorCount = reader.Read7BitEncodedInt64(),
            FloorSumMicros = reader.Read7BitEncodedInt64(),
            FloorMinMicros = reader.Read7BitEncodedInt64(),
            FloorMaxMicros = reader.Read7BitEncodedInt64(),
        };
        for (int steps = reader.ReadByte(), i = 0; i < steps; i++)
        {
            var step = reader.ReadByte();
            if (step >= DensitySteps)
            {
                throw new InvalidDataException($"a slot minute's density step {step} is beyond the last one ({DensitySteps - 1})");
            }

            counters.Density[step] = reader.Read7BitEncodedInt64();
        }

        return counters;
    }

    /// <summary>The layout before <see cref="CompactLayout"/>: fixed-width numbers, every density step.</summary>
    private static SlotCounters ReadFixed(BinaryReader reader, long bids)
    {
        var counters = new SlotCounters
        {
            Bids = bids,
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
