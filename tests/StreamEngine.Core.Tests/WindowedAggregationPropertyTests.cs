using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>
/// The engine against the brute-force reference on random inputs with disorder, duplicates, late and too-late
/// events and an idle partition: the same results, late events and duplicate counts; and the same input cut into
/// other batches gives the same results.
/// </summary>
public sealed class WindowedAggregationPropertyTests
{
    internal static readonly WindowOptions Options = new()
    {
        WatermarkDelay = TimeSpan.FromSeconds(10),
        AllowedLateness = TimeSpan.FromMinutes(2),
        IdleTimeout = TimeSpan.FromSeconds(30),
    };

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var window in new[] { "tumbling", "hopping", "session" })
        {
            foreach (var seed in new[] { 1, 2, 3, 4, 5 })
            {
                data.Add(window, seed);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Results_late_events_and_duplicates_equal_the_reference(string windowName, int seed)
    {
        var window = Window(windowName);
        var steps = Scripts.Cut(Scripts.RandomArrivals(seed), seed);

        var outcome = EngineRunner.Run(EngineRunner.Create(window, Options), steps);
        var reference = ReferenceModel.Run(steps, window, Options);

        Assert.NotEmpty(reference.Late);
        Assert.True(reference.Duplicates > 0);
        Assert.Equal(Sorted(reference.Results()), Sorted(outcome.Final()));
        Assert.Equal(reference.Late.Select(e => e.Id).Order(), outcome.Late.Select(l => l.Event.Id).Order());
        var engine = EngineRunner.Create(window, Options);
        EngineRunner.Run(engine, steps);
        Assert.Equal(reference.Duplicates, engine.Counters.Duplicates);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_same_input_cut_into_other_batches_gives_the_same_results(string windowName, int seed)
    {
        var window = Window(windowName);
        var arrivals = Scripts.RandomArrivals(seed);

        var baseline = EngineRunner.Run(EngineRunner.Create(window, Options), Scripts.Cut(arrivals, seed, maxBatch: 1));
        foreach (var (cutSeed, maxBatch) in new[] { (100, 5), (200, 64), (300, 1000) })
        {
            var recut = EngineRunner.Run(EngineRunner.Create(window, Options), Scripts.Cut(arrivals, seed + cutSeed, maxBatch));
            Assert.Equal(Sorted(baseline.Final()), Sorted(recut.Final()));
            Assert.Equal(baseline.Late.Select(l => l.Event.Id), recut.Late.Select(l => l.Event.Id));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_emitted_result_has_a_version_that_only_grows(string windowName, int seed)
    {
        var outcome = EngineRunner.Run(EngineRunner.Create(Window(windowName), Options), Scripts.Cut(Scripts.RandomArrivals(seed), seed));

        foreach (var window in outcome.Emitted.Where(r => r.Emission != WindowEmission.Retraction).GroupBy(r => (r.Key, r.WindowStartMs)))
        {
            var versions = window.Select(r => r.Version).ToList();
            Assert.Equal(versions.Order(), versions);
            Assert.All(window, r => Assert.Equal(r.Value.Count, r.Version));
        }
    }

    internal static WindowSpec Window(string name) => name switch
    {
        "tumbling" => Windows.Tumbling(TimeSpan.FromMinutes(1)),
        "hopping" => Windows.Hopping(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10)),
        _ => Windows.Session(TimeSpan.FromSeconds(5)),
    };

    private static List<KeyValuePair<(int Key, long Start, long End), (long Count, long Sum)>> Sorted(Dictionary<(int Key, long Start, long End), (long Count, long Sum)> results) =>
        [.. results.OrderBy(r => r.Key.Key).ThenBy(r => r.Key.Start)];
}
