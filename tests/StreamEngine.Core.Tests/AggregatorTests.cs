using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Sketches;

namespace StreamEngine.Core.Tests;

/// <summary>Every building block: correct on its own, and two partials merge into the aggregate of the union.</summary>
public sealed class AggregatorTests
{
    private static readonly TestEvent[] Events = [.. Enumerable.Range(0, 5000).Select(i => new TestEvent(i, i % 13, Scripts.Start + i, (i * 7919) % 1000 - 200))];

    [Fact]
    public void Count_sum_min_max_mean_and_ratio_match_LINQ()
    {
        Assert.Equal(Events.LongLength, Whole(Aggregators.Count<TestEvent>()));
        Assert.Equal(Events.Sum(e => e.Value), Whole(Aggregators.Sum<TestEvent>(e => e.Value)));
        Assert.Equal(Events.Min(e => e.Value), Whole(Aggregators.Min<TestEvent>(e => e.Value)));
        Assert.Equal(Events.Max(e => e.Value), Whole(Aggregators.Max<TestEvent>(e => e.Value)));
        Assert.Equal(Events.Average(e => (double)e.Value), Whole(Aggregators.Mean<TestEvent>(e => e.Value)), 9);
        Assert.Equal(Events.Count(e => e.Value > 500) / (double)Events.Count(e => e.Value > 0), Whole(Aggregators.Ratio<TestEvent>(e => e.Value > 500, e => e.Value > 0)), 12);
    }

    [Fact]
    public void Empty_accumulators_say_so()
    {
        var none = Array.Empty<TestEvent>();
        Assert.Null(Fold(Aggregators.Min<TestEvent>(e => e.Value), none));
        Assert.True(double.IsNaN(Fold(Aggregators.Mean<TestEvent>(e => e.Value), none)));
        Assert.Equal(0, Fold(Aggregators.Ratio<TestEvent>(_ => true, _ => true), none));
    }

    [Fact]
    public void Partials_merge_into_the_aggregate_of_the_union_and_survive_serialization()
    {
        AssertMergeable(Aggregators.Count<TestEvent>());
        AssertMergeable(Aggregators.Sum<TestEvent>(e => e.Value));
        AssertMergeable(Aggregators.Min<TestEvent>(e => e.Value));
        AssertMergeable(Aggregators.Max<TestEvent>(e => e.Value));
        AssertMergeable(Aggregators.Mean<TestEvent>(e => e.Value), (a, b) => Assert.Equal(a, b, 9));
        AssertMergeable(Aggregators.Ratio<TestEvent>(e => e.Value > 500, e => e.Value > 0));
        AssertMergeable(Aggregators.DistinctCount<TestEvent>(e => Hashing.Mix((ulong)e.Key)));
        AssertMergeable(Aggregators.Quantiles<TestEvent>(e => Math.Abs(e.Value)), (a, b) => Assert.Equal(a.Buckets(), b.Buckets()));
        AssertMergeable(Aggregators.TopK<TestEvent, int>(e => e.Key, 3, 20, (w, k) => w.Write(k), r => r.ReadInt32()), (a, b) => Assert.Equal(a, b));
        AssertMergeable(Aggregators.Combine(Aggregators.Count<TestEvent>(), Aggregators.Max<TestEvent>(e => e.Value)));
    }

    private static TResult Whole<TAcc, TResult>(IAggregator<TestEvent, TAcc, TResult> aggregator) => Fold(aggregator, Events);

    private static TResult Fold<TAcc, TResult>(IAggregator<TestEvent, TAcc, TResult> aggregator, IEnumerable<TestEvent> events)
    {
        var accumulator = aggregator.Create();
        foreach (var e in events)
        {
            aggregator.Add(ref accumulator, e);
        }

        return aggregator.Result(accumulator);
    }

    private static void AssertMergeable<TAcc, TResult>(IAggregator<TestEvent, TAcc, TResult> aggregator, Action<TResult, TResult>? equal = null)
    {
        equal ??= (a, b) => Assert.Equal(a, b);
        foreach (var split in new[] { 0, 1, 1234, Events.Length })
        {
            var left = aggregator.Create();
            var right = aggregator.Create();
            for (var i = 0; i < Events.Length; i++)
            {
                if (i < split)
                {
                    aggregator.Add(ref left, Events[i]);
                }
                else
                {
                    aggregator.Add(ref right, Events[i]);
                }
            }

            aggregator.Merge(ref left, RoundTrip(aggregator, right));
            equal(Whole(aggregator), aggregator.Result(left));
        }
    }

    private static TAcc RoundTrip<TAcc, TResult>(IAggregator<TestEvent, TAcc, TResult> aggregator, TAcc accumulator)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            aggregator.Write(writer, accumulator);
        }

        buffer.Position = 0;
        using var reader = new BinaryReader(buffer);
        return aggregator.Read(reader);
    }
}
