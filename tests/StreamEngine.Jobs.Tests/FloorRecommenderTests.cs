using StreamEngine.AdEvents.Pricing;
using StreamEngine.Core.Sketches;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// The floor recommender on bid distributions whose revenue-optimal reserve is known analytically (through the same
/// 1% log-bucket sketch the bid-landscape job keeps), and its guardrails.
/// </summary>
public sealed class FloorRecommenderTests
{
    private static readonly FloorPolicy Policy = new();

    [Theory]
    [InlineData(2_000_000.0)]
    [InlineData(10_000_000.0)]
    public void Uniform_bids_on_zero_to_b_give_an_optimum_of_b_over_two(double b)
    {
        var random = new Random(7);
        var histogram = Histogram(Enumerable.Range(0, 200_000).Select(_ => random.NextDouble() * b));

        var (reserve, revenue, samples) = FloorRecommender.Optimum(histogram);

        Assert.Equal(200_000, samples);
        Assert.InRange(reserve, b / 2 * 0.96, b / 2 * 1.04);
        Assert.InRange(revenue, b / 4 * 0.97, b / 4 * 1.03); // R(b/2) = b/2 * 1/2
    }

    [Fact]
    public void Exponential_bids_with_mean_m_give_an_optimum_of_m()
    {
        const double mean = 1_500_000;
        var random = new Random(11);
        var histogram = Histogram(Enumerable.Range(0, 200_000).Select(_ => -mean * Math.Log(1 - random.NextDouble())));

        var (reserve, revenue, _) = FloorRecommender.Optimum(histogram);

        // R(r) = r e^(-r/m) peaks at r = m; the peak is flat, so the sampled optimum wanders more than for uniform bids.
        Assert.InRange(reserve, mean * 0.9, mean * 1.1);
        Assert.InRange(revenue, mean / Math.E * 0.97, mean / Math.E * 1.03);
    }

    [Fact]
    public void A_small_exact_distribution_picks_the_reserve_with_the_highest_revenue_per_bid()
    {
        // r = 1: 1 * 1.0 = 1.0; r = 2: 2 * 0.8 = 1.6; r = 4: 4 * 0.3 = 1.2.
        var (reserve, revenue, samples) = FloorRecommender.Optimum([(1, 20), (2, 50), (4, 30)]);

        Assert.Equal((2.0, 1.6, 100L), (reserve, Math.Round(revenue, 9), samples));
    }

    [Fact]
    public void Too_few_bids_keep_the_previous_recommendation()
    {
        var previous = new FloorRecommendation(1000, 1.0, 1.0, 0.5, 0.9, FloorStatus.Initial);

        var next = FloorRecommender.Next(previous, [(5, 10)], Policy);

        Assert.Equal(FloorStatus.InsufficientSamples, next.Status);
        Assert.Equal(1.0, next.RecommendedMicros);
        Assert.True(double.IsNaN(FloorRecommender.Next(null, [(5, 10)], Policy).RecommendedMicros), "no recommendation before enough bids");
    }

    [Fact]
    public void The_first_window_recommends_its_optimum_and_later_ones_are_smoothed_within_the_step_limit()
    {
        var first = FloorRecommender.Next(null, [(1, 200), (2, 600), (4, 300)], Policy);
        Assert.Equal((FloorStatus.Initial, 2.0), (first.Status, first.RecommendedMicros));

        // Optimum 2.2: 0.3 * 2.2 + 0.7 * 2.0 = 2.06, within 20% of 2.0.
        var smoothed = FloorRecommender.Next(first, [(2.2, 1000)], Policy);
        Assert.Equal(FloorStatus.Updated, smoothed.Status);
        Assert.Equal(2.06, smoothed.RecommendedMicros, 9);

        // Optimum 20: smoothing alone would give 7.4; the step limit holds it to 2.06 * 1.2.
        var jump = FloorRecommender.Next(smoothed, [(20, 1000)], Policy);
        Assert.Equal(FloorStatus.StepLimited, jump.Status);
        Assert.Equal(2.06 * 1.2, jump.RecommendedMicros, 9);
    }

    [Fact]
    public void Confidence_grows_with_the_number_of_bids()
    {
        var few = FloorRecommender.Next(null, [(1, 100), (2, 120)], Policy);
        var many = FloorRecommender.Next(null, [(1, 10_000), (2, 12_000)], Policy);

        Assert.InRange(few.Confidence, 0, 1);
        Assert.True(many.Confidence > few.Confidence, $"{many.Confidence} vs {few.Confidence}");
        Assert.True(many.Confidence > 0.95);
    }

    [Fact]
    public void A_policy_outside_its_bounds_is_refused_naming_the_setting()
    {
        Assert.Contains("MaxStepChange", Assert.Throws<ArgumentException>(() => new FloorPolicy { MaxStepChange = 0 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("Smoothing", Assert.Throws<ArgumentException>(() => new FloorPolicy { Smoothing = 1.5 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("MinSamples", Assert.Throws<ArgumentException>(() => new FloorPolicy { MinSamples = 0 }.Validate()).Message, StringComparison.Ordinal);
    }

    /// <summary>Bids through the bid-landscape job's sketch, as the recommender reads them back: bucket values and counts.</summary>
    private static List<(double Value, long Count)> Histogram(IEnumerable<double> bids)
    {
        var sketch = new QuantileSketch(0.01);
        foreach (var bid in bids)
        {
            sketch.Add(bid);
        }

        return [.. sketch.Buckets().Select(b => (sketch.ValueOf(b.Bucket), b.Count))];
    }
}
