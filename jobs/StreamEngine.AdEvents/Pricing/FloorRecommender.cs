namespace StreamEngine.AdEvents.Pricing;

/// <summary>Guardrails of the floor-price recommender.</summary>
public sealed record FloorPolicy
{
    /// <summary>Bids a window needs before it may move the recommendation.</summary>
    public long MinSamples { get; init; } = 200;

    /// <summary>Largest relative change of the recommendation from one window to the next (0.2 = 20%).</summary>
    public double MaxStepChange { get; init; } = 0.2;

    /// <summary>Weight of the newest window's optimum in the exponential smoothing across windows (1 = no smoothing).</summary>
    public double Smoothing { get; init; } = 0.3;

    public void Validate()
    {
        if (MinSamples < 1)
        {
            throw new ArgumentException($"MinSamples must be at least 1, not {MinSamples}");
        }

        if (MaxStepChange is <= 0 or > 10 || double.IsNaN(MaxStepChange))
        {
            throw new ArgumentException($"MaxStepChange must lie in (0, 10], not {MaxStepChange}");
        }

        if (Smoothing is <= 0 or > 1 || double.IsNaN(Smoothing))
        {
            throw new ArgumentException($"Smoothing must lie in (0, 1], not {Smoothing}");
        }
    }
}

/// <summary>Why a window's recommendation is what it is.</summary>
public enum FloorStatus
{
    /// <summary>The first recommendation for the slot: the window's optimum as it is.</summary>
    Initial,

    /// <summary>Smoothed towards the window's optimum within the step limit.</summary>
    Updated,

    /// <summary>The smoothed value moved more than the step limit allows and was held to it.</summary>
    StepLimited,

    /// <summary>Too few bids: the previous recommendation stands (or none yet).</summary>
    InsufficientSamples,
}

/// <summary>One window's recommendation for a slot.</summary>
/// <param name="Samples">Bids in the window.</param>
/// <param name="OptimalMicros">The window's revenue-maximizing reserve (NaN without enough bids).</param>
/// <param name="RecommendedMicros">The floor to use after smoothing and guardrails (NaN while there is none).</param>
/// <param name="ExpectedRevenuePerBidMicros">Expected revenue per bid at the window's optimum: r * P(bid &gt;= r).</param>
/// <param name="Confidence">0..1: how well the window's bids pin down the sell-through at the optimum.</param>
public readonly record struct FloorRecommendation(
    long Samples, double OptimalMicros, double RecommendedMicros, double ExpectedRevenuePerBidMicros, double Confidence, FloorStatus Status);

/// <summary>
/// Floor-price (reserve) recommendations from a window's bid distribution. Each bid stands for a buyer's willingness
/// to pay; with a reserve r the bids at or above r clear at r (a posted price, or a first-price auction's floor), so
/// the expected revenue per bid is R(r) = r * P(bid &gt;= r), and the window's optimum is the r that maximizes it over
/// the observed bids. For uniform bids on [0, b] that is b / 2; for exponential bids with mean m it is m (tests hold
/// the recommender to both). Across windows the optimum is smoothed exponentially and each step is limited, and a
/// window with too few bids changes nothing.
/// </summary>
public static class FloorRecommender
{
    /// <summary>
    /// The reserve that maximizes r * P(bid &gt;= r) over a histogram of bids (values ascending, each with its count),
    /// the revenue per bid there, and the number of bids; NaN values when there are none.
    /// </summary>
    public static (double Reserve, double RevenuePerBid, long Samples) Optimum(IReadOnlyList<(double Value, long Count)> histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        long total = 0;
        foreach (var (_, count) in histogram)
        {
            total += count;
        }

        if (total == 0)
        {
            return (double.NaN, double.NaN, 0);
        }

        // Walk from the top: "above" counts the bids at or above the current value.
        double best = double.NaN, bestRevenue = -1;
        long above = 0;
        for (var i = histogram.Count - 1; i >= 0; i--)
        {
            var (value, count) = histogram[i];
            above += count;
            var revenue = value * above / total;
            if (revenue >= bestRevenue)
            {
                (best, bestRevenue) = (value, revenue);
            }
        }

        return (best, bestRevenue, total);
    }

    /// <summary>The next window's recommendation, given the previous one's (or null for the slot's first window).</summary>
    public static FloorRecommendation Next(FloorRecommendation? previous, IReadOnlyList<(double Value, long Count)> histogram, FloorPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var (optimum, revenue, samples) = Optimum(histogram);
        var prior = previous is { RecommendedMicros: var p } && !double.IsNaN(p) ? p : double.NaN;
        if (samples < policy.MinSamples)
        {
            return new FloorRecommendation(samples, optimum, prior, revenue, 0, FloorStatus.InsufficientSamples);
        }

        var confidence = Confidence(histogram, optimum, samples);
        if (double.IsNaN(prior))
        {
            return new FloorRecommendation(samples, optimum, optimum, revenue, confidence, FloorStatus.Initial);
        }

        var smoothed = policy.Smoothing * optimum + (1 - policy.Smoothing) * prior;
        var limited = Math.Clamp(smoothed, prior * (1 - Math.Min(policy.MaxStepChange, 1)), prior * (1 + policy.MaxStepChange));
        return new FloorRecommendation(samples, optimum, limited, revenue, confidence,
            limited != smoothed ? FloorStatus.StepLimited : FloorStatus.Updated);
    }

    /// <summary>
    /// 1 minus the 95% relative margin of the estimated sell-through at the optimum (binomial standard error), clipped
    /// to 0..1: near 1 with many bids clearing the reserve, near 0 with few.
    /// </summary>
    private static double Confidence(IReadOnlyList<(double Value, long Count)> histogram, double reserve, long samples)
    {
        long above = 0;
        foreach (var (value, count) in histogram)
        {
            if (value >= reserve)
            {
                above += count;
            }
        }

        var sellThrough = (double)above / samples;
        if (sellThrough <= 0)
        {
            return 0;
        }

        var relativeError = Math.Sqrt(sellThrough * (1 - sellThrough) / samples) / sellThrough;
        return Math.Clamp(1 - 1.96 * relativeError, 0, 1);
    }
}
