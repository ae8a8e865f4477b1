namespace StreamEngine.AdEvents;

/// <summary>What <see cref="TrafficGenerator"/> produces; every default is a plausible ad exchange in miniature.</summary>
public sealed record TrafficOptions
{
    public int Seed { get; init; } = 1;

    public int Campaigns { get; init; } = 200;

    public int Placements { get; init; } = 500;

    public int Publishers { get; init; } = 60;

    public int Users { get; init; } = 100_000;

    /// <summary>Event time of the first auction (Unix ms).</summary>
    public long StartTimeMs { get; init; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Auctions per second of event time (the stream's density; independent of how fast it is sent).</summary>
    public double AuctionsPerSecond { get; init; } = 5_000;

    /// <summary>How far an event may trail the newest event time sent, at most.</summary>
    public TimeSpan MaxDisorder { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Fraction of messages that repeat an earlier message (same key, bytes and id).</summary>
    public double DuplicateFraction { get; init; }

    /// <summary>Fraction of messages far older than the stream (beyond any allowed lateness).</summary>
    public double LateFraction { get; init; }

    /// <summary>How far behind the stream a late message is.</summary>
    public TimeSpan LateBy { get; init; } = TimeSpan.FromMinutes(20);

    /// <summary>
    /// Message keys: the campaign id (false, the wire contract's default: one campaign's events share a partition)
    /// or the event id (true: traffic spreads evenly over the partitions, and a campaign's minute is partial in every
    /// partition). A duplicate repeats its original's key either way.
    /// </summary>
    public bool KeyByEventId { get; init; }

    /// <summary>Fraction of messages that are not valid events (each kind of defect in turn).</summary>
    public double MalformedFraction { get; init; }

    /// <summary>Fraction of valid events written in schema version 1.</summary>
    public double Version1Fraction { get; init; } = 0.3;

    public void Validate()
    {
        static void Fraction(double value, string name)
        {
            if (value is < 0 or > 0.5 || double.IsNaN(value))
            {
                throw new ArgumentException($"{name} must be a fraction between 0 and 0.5, not {value}");
            }
        }

        Fraction(DuplicateFraction, "duplicates");
        Fraction(LateFraction, "late");
        Fraction(MalformedFraction, "malformed");
        if (Version1Fraction is < 0 or > 1)
        {
            throw new ArgumentException($"the share of v1 events must lie in 0..1, not {Version1Fraction}");
        }

        if (Campaigns < 1 || Placements < 1 || Publishers < 1 || Users < 1 || AuctionsPerSecond <= 0)
        {
            throw new ArgumentException("campaigns, placements, publishers, users and the auction rate must be positive");
        }
    }
}
