namespace StreamEngine.ClickHouse.Sink;

/// <summary>How result batches are written: sizes, and what happens while ClickHouse is failing.</summary>
public sealed record SinkOptions
{
    /// <summary>Rows that make a batch full (ClickHouse's guidance: large batches).</summary>
    public int MaxBatchRows { get; init; } = 100_000;

    /// <summary>Age at which a batch goes out anyway (about one insert per second per table).</summary>
    public TimeSpan MaxBatchAge { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>First retry delay; it doubles (with jitter) up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan InitialRetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a batch keeps being retried while ClickHouse is unavailable before the job stops. Meanwhile the
    /// write does not complete, so the pipeline waits and the source pauses: nothing is dropped.
    /// </summary>
    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Failures that open the circuit (further attempts wait out <see cref="BreakDuration"/> instead of hammering).</summary>
    public int BreakAfterConsecutiveFailures { get; init; } = 5;

    /// <summary>
    /// Whether the writer makes the table drop a block it already has (it sets the table's
    /// <c>non_replicated_deduplication_window</c> before its first write; blocks carry a content-hash token). Right for
    /// tables whose identical blocks mean the same thing twice (versioned results, raw events by id); wrong for a table
    /// where writing the same rows again is a change (a budget set back to an earlier value), so off by default.
    /// </summary>
    public bool DropRepeatedBlocks { get; init; }

    /// <summary>How long an open circuit stays open (at least half a second: Polly's floor).</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(5);
}
