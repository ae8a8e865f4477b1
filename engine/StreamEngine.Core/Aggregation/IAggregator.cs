namespace StreamEngine.Core.Aggregation;

/// <summary>
/// An incremental, mergeable aggregation: events are added one at a time to an accumulator, two accumulators
/// merge into the accumulator of the union of their events (so partials from partitions or processes combine),
/// and accumulators serialize for state snapshots.
/// </summary>
public interface IAggregator<TEvent, TAccumulator, out TResult>
{
    /// <summary>An empty accumulator.</summary>
    TAccumulator Create();

    /// <summary>Adds one event. Called in the per-event loop: must not allocate in steady state.</summary>
    void Add(ref TAccumulator accumulator, in TEvent item);

    /// <summary>Adds everything <paramref name="other"/> holds into <paramref name="into"/>.</summary>
    void Merge(ref TAccumulator into, TAccumulator other);

    /// <summary>The value the accumulator stands for now (called on emission, not per event).</summary>
    TResult Result(TAccumulator accumulator);

    void Write(BinaryWriter writer, TAccumulator accumulator);

    TAccumulator Read(BinaryReader reader);
}
