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

    /// <summary>
    /// The value the accumulator stands for now: called once per emission of a window (and of a retraction), never per
    /// event, so a result may carry what changed since the window's previous one (as the ad-metrics breakdown does).
    /// </summary>
    TResult Result(TAccumulator accumulator);

    /// <summary>Writes an accumulator into a snapshot.</summary>
    void Write(BinaryWriter writer, TAccumulator accumulator);

    /// <summary>Reads an accumulator back from a snapshot written by <see cref="Write"/>.</summary>
    TAccumulator Read(BinaryReader reader);
}
