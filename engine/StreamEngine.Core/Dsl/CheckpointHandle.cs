using StreamEngine.Core.State;

namespace StreamEngine.Core.Dsl;

/// <summary>A consistent cut of a running aggregation: its state, and the source offsets that state covers.</summary>
/// <param name="State">The operator's snapshot (windows, watermarks, dedup ids, counters).</param>
/// <param name="NextOffsets">Per source partition, the offset after the last batch the state includes.</param>
public sealed record Checkpoint(byte[] State, IReadOnlyDictionary<int, long> NextOffsets);

/// <summary>
/// Connects a sink to a running aggregation for exactly-once: <see cref="Take"/> snapshots the state together with
/// the offsets it covers, between two batches; <see cref="RestoreFrom"/> starts a new run from such a snapshot.
/// Pass one to <see cref="WindowedStream{TEvent,TKey}.Aggregate{TAccumulator,TResult}"/>; one subscription at a time.
/// </summary>
public sealed class CheckpointHandle
{
    private readonly object _gate = new();
    private Func<Checkpoint>? _take;

    /// <summary>State to restore when the aggregation starts (from the last stored checkpoint), or null to start empty.</summary>
    public byte[]? RestoreFrom { get; init; }

    /// <summary>How keys are written into snapshots; the default handles int, long, string, Guid and UInt128.</summary>
    public object? KeyCodec { get; init; }

    /// <summary>Whether an aggregation is attached (subscribed) now.</summary>
    public bool IsAttached
    {
        get
        {
            lock (_gate)
            {
                return _take is not null;
            }
        }
    }

    /// <summary>Snapshots the attached aggregation between two batches.</summary>
    public Checkpoint Take()
    {
        Func<Checkpoint>? take;
        lock (_gate)
        {
            take = _take;
        }

        return take is null ? throw new InvalidOperationException("no aggregation is running on this checkpoint handle") : take();
    }

    internal KeyCodec<TKey>? CodecFor<TKey>() => KeyCodec as KeyCodec<TKey>;

    internal void Attach(Func<Checkpoint> take)
    {
        lock (_gate)
        {
            if (_take is not null)
            {
                throw new InvalidOperationException("a checkpoint handle serves one running aggregation at a time");
            }

            _take = take;
        }
    }

    internal void Detach()
    {
        lock (_gate)
        {
            _take = null;
        }
    }
}
