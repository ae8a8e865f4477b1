namespace StreamEngine.Runtime.Results;

/// <summary>How the partials of a value combine across source partitions (and across parts a view adds up).</summary>
public enum MergeKind
{
    /// <summary>Added up: counts, sums.</summary>
    Sum,

    /// <summary>The least partial.</summary>
    Min,

    /// <summary>The greatest partial.</summary>
    Max,

    /// <summary>Bucket counts added bucket by bucket (a histogram or sketch stored as keys and counts).</summary>
    SumByBucket,

    /// <summary>Element-wise maximum of equal-length arrays (HyperLogLog registers: the union's registers).</summary>
    MaxByElement,
}

/// <summary>
/// A value's merge rule, part of its declaration: one process writes one partial per source partition, and the view
/// combines the newest version of each partition's partial by this rule. A plain sum is wrong for minima, maxima,
/// sketches and registers, so the declaration says which.
/// </summary>
public sealed record Merge
{
    private Merge(MergeKind kind) => Kind = kind;

    /// <summary>Which rule.</summary>
    public MergeKind Kind { get; }

    /// <summary>When set, only partials whose value of this column is above zero take part (a minimum of no samples is not 0).</summary>
    public string? OnlyWherePositive { get; init; }

    /// <summary>Partials added up.</summary>
    public static Merge Sum { get; } = new(MergeKind.Sum);

    /// <summary>The least partial.</summary>
    public static Merge Min { get; } = new(MergeKind.Min);

    /// <summary>The greatest partial.</summary>
    public static Merge Max { get; } = new(MergeKind.Max);

    internal static Merge SumByBucket { get; } = new(MergeKind.SumByBucket);

    internal static Merge MaxByElement { get; } = new(MergeKind.MaxByElement);

    /// <summary>This rule over the partials whose <paramref name="column"/> is above zero only.</summary>
    public Merge WherePositive(string column)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(column);
        return this with { OnlyWherePositive = column };
    }
}
