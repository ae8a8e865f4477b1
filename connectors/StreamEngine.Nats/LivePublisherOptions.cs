namespace StreamEngine.Nats;

/// <summary>Where and how live metrics go to NATS (<c>nats.url</c>; unset means no NATS output).</summary>
public sealed record LivePublisherOptions
{
    public required string Url { get; init; }

    /// <summary>User and password, when the server wants them (also accepted in the URL).</summary>
    public string? User { get; init; }

    public string? Password { get; init; }

    /// <summary>A token, when the server authenticates by token.</summary>
    public string? Token { get; init; }

    /// <summary>A NATS credentials file (JWT and NKey seed), for NGS-style accounts.</summary>
    public string? CredentialsFile { get; init; }

    /// <summary>How long the sender waits at most between rounds (values go out as soon as they arrive; this paces retries while NATS is away).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a round waits for NATS to confirm what it sent (the stream's acks, or a round trip without JetStream)
    /// before it counts as failed and everything in it is sent again; also how long disposing waits for the last round.
    /// </summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Keep what is published in a JetStream stream (<see cref="StreamName"/> over <c>adtrack.&gt;</c>), so a subscriber
    /// that arrives late reads the recent history; the server must run with JetStream.
    /// </summary>
    public bool JetStream { get; init; }

    public string StreamName { get; init; } = "ADTRACK";

    /// <summary>How long the stream keeps messages.</summary>
    public TimeSpan HistoryMaxAge { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Events that are not conflated (alerts) waiting while NATS is unreachable; beyond it the oldest are dropped and counted.</summary>
    public int MaxQueuedEvents { get; init; } = 10_000;
}
