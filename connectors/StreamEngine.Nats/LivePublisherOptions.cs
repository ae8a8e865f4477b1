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

    /// <summary>How often the latest value of every changed subject goes out (the contract: at least once per second).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Events that are not conflated (alerts) waiting while NATS is unreachable; beyond it the oldest are dropped and counted.</summary>
    public int MaxQueuedEvents { get; init; } = 10_000;
}
