namespace StreamEngine.Core.Windowing;

/// <summary>The kinds of event-time window.</summary>
public enum WindowKind
{
    /// <summary>Fixed, non-overlapping windows.</summary>
    Tumbling,
    /// <summary>Fixed windows that overlap, one starting every slide.</summary>
    Hopping,
    /// <summary>Windows of activity, closed by a gap without events.</summary>
    Session,
}

/// <summary>
/// An event-time window definition; windows are UTC-aligned (to the Unix epoch) and half-open, [start, end).
/// Build one with <see cref="Windows"/>.
/// </summary>
public sealed record WindowSpec
{
    internal WindowSpec(WindowKind kind, long sizeMs, long advanceMs, long gapMs)
    {
        Kind = kind;
        SizeMs = sizeMs;
        AdvanceMs = advanceMs;
        GapMs = gapMs;
    }

    /// <summary>Which kind of window.</summary>
    public WindowKind Kind { get; }

    /// <summary>Length of a tumbling or hopping window, in milliseconds (0 for sessions).</summary>
    public long SizeMs { get; }

    /// <summary>Distance between the starts of consecutive hopping windows (equals the size for tumbling).</summary>
    public long AdvanceMs { get; }

    /// <summary>Inactivity that ends a session, in milliseconds (0 otherwise).</summary>
    public long GapMs { get; }

    /// <summary>The longest span one window can cover before it closes: what dedup and lateness horizons build on.</summary>
    public long ExtentMs => Kind == WindowKind.Session ? GapMs : SizeMs;

    /// <summary>Start of the last window (the latest-starting one) that contains <paramref name="timestampMs"/>.</summary>
    public long LastStartContaining(long timestampMs) => FloorTo(timestampMs, AdvanceMs);

    /// <summary>The window as written in logs, e.g. tumbling 1m.</summary>
    public override string ToString() => Kind switch
    {
        WindowKind.Tumbling => $"tumbling({TimeSpan.FromMilliseconds(SizeMs)})",
        WindowKind.Hopping => $"hopping({TimeSpan.FromMilliseconds(SizeMs)}, every {TimeSpan.FromMilliseconds(AdvanceMs)})",
        _ => $"session(gap {TimeSpan.FromMilliseconds(GapMs)})",
    };

    /// <summary>Rounds down to a multiple of <paramref name="unit"/>, correctly for times before 1970 too.</summary>
    internal static long FloorTo(long value, long unit)
    {
        var remainder = value % unit;
        return remainder < 0 ? value - remainder - unit : value - remainder;
    }
}

/// <summary>Window definitions, named as in Kafka Streams and Flink.</summary>
public static class Windows
{
    /// <summary>Fixed, non-overlapping windows of <paramref name="size"/>, e.g. one per minute.</summary>
    public static WindowSpec Tumbling(TimeSpan size)
    {
        var ms = Milliseconds(size, nameof(size));
        return new WindowSpec(WindowKind.Tumbling, ms, ms, 0);
    }

    /// <summary>Overlapping windows of <paramref name="size"/> starting every <paramref name="advance"/>; size must be a multiple of advance.</summary>
    public static WindowSpec Hopping(TimeSpan size, TimeSpan advance)
    {
        var sizeMs = Milliseconds(size, nameof(size));
        var advanceMs = Milliseconds(advance, nameof(advance));
        if (advanceMs > sizeMs || sizeMs % advanceMs != 0)
        {
            throw new ArgumentException($"a hopping window's size ({size}) must be a whole multiple of its advance ({advance})", nameof(advance));
        }

        return new WindowSpec(advanceMs == sizeMs ? WindowKind.Tumbling : WindowKind.Hopping, sizeMs, advanceMs, 0);
    }

    /// <summary>Per-key sessions that end after <paramref name="gap"/> without events.</summary>
    public static WindowSpec Session(TimeSpan gap) => new(WindowKind.Session, 0, 0, Milliseconds(gap, nameof(gap)));

    private static long Milliseconds(TimeSpan span, string name)
    {
        if (span <= TimeSpan.Zero || span.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            throw new ArgumentOutOfRangeException(name, span, "a window length must be a positive whole number of milliseconds");
        }

        return (long)span.TotalMilliseconds;
    }
}
