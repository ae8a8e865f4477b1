namespace StreamEngine.Core.Windowing;

/// <summary>Event-time behaviour of a windowed aggregation; the defaults are the configuration contract's.</summary>
public sealed record WindowOptions
{
    /// <summary>How far a partition's watermark trails the largest event time it has seen (<c>window.watermark_delay</c>).</summary>
    public TimeSpan WatermarkDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How far behind the watermark an event may be and still update its window (<c>window.allowed_lateness</c>).</summary>
    public TimeSpan AllowedLateness { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A partition without events for this long (processing time) stops holding the watermark back.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Processing-time cadence of early (and late) updates; <see cref="TimeSpan.Zero"/> emits finals only.</summary>
    public TimeSpan EmitInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long event ids are remembered for dedup; null means window extent plus allowed lateness (the contract's minimum).</summary>
    public TimeSpan? DedupHorizon { get; init; }

    /// <summary>Hard cap on remembered event ids per state (<c>window.max_dedup_ids</c>; about 26 bytes each: 20 million is about 500 MiB).</summary>
    public int MaxDedupIds { get; init; } = 20_000_000;

    /// <summary>Also emit, per batch, the events that went into windows (<see cref="WindowOutput{TKey,TResult,TEvent}.Accepted"/>): a raw-events sink's input.</summary>
    public bool EmitAcceptedEvents { get; init; }

    /// <summary>Throws when the options do not suit <paramref name="window"/> (negative lateness, an emit interval below zero).</summary>
    public void Validate(WindowSpec window)
    {
        ArgumentNullException.ThrowIfNull(window);
        if (WatermarkDelay < TimeSpan.Zero)
        {
            throw new ArgumentException($"window.watermark_delay must not be negative (it is {WatermarkDelay})");
        }

        if (AllowedLateness < TimeSpan.Zero)
        {
            throw new ArgumentException($"window.allowed_lateness must not be negative (it is {AllowedLateness})");
        }

        if (IdleTimeout <= TimeSpan.Zero || EmitInterval < TimeSpan.Zero)
        {
            throw new ArgumentException($"the idle timeout must be positive ({IdleTimeout}) and the emit interval not negative ({EmitInterval})");
        }

        var minimum = TimeSpan.FromMilliseconds(window.ExtentMs) + AllowedLateness;
        if (DedupHorizon is { } horizon && horizon < minimum)
        {
            throw new ArgumentException($"the dedup horizon ({horizon}) must cover the window and the allowed lateness ({minimum})");
        }
    }
}
