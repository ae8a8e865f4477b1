using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>Snapshot, restore into a fresh engine, continue: the same as never stopping.</summary>
public sealed class SnapshotTests
{
    private static WindowOptions Options => WindowedAggregationPropertyTests.Options;

    [Theory]
    [InlineData("tumbling", 11)]
    [InlineData("hopping", 12)]
    [InlineData("session", 13)]
    public void Snapshot_restore_and_continue_equals_no_break(string windowName, int seed)
    {
        var window = WindowedAggregationPropertyTests.Window(windowName);
        var steps = Scripts.Cut(Scripts.RandomArrivals(seed), seed);
        var reference = EngineRunner.Create(window, Options);
        var uninterrupted = EngineRunner.Run(reference, steps);

        foreach (var cut in new[] { steps.Count / 3, steps.Count / 2, steps.Count * 4 / 5 })
        {
            var before = EngineRunner.Create(window, Options);
            var first = EngineRunner.Run(before, steps.Take(cut), drain: false);
            var snapshot = before.Snapshot();

            var after = EngineRunner.Create(window, Options);
            after.Restore(snapshot);
            var second = EngineRunner.Run(after, steps.Skip(cut));

            var combined = new EngineRunner.Outcome();
            combined.Emitted.AddRange(first.Emitted.Concat(second.Emitted));
            Assert.Equal(uninterrupted.Final().OrderBy(r => r.Key), combined.Final().OrderBy(r => r.Key));
            Assert.Equal(uninterrupted.Late.Select(l => l.Event.Id), first.Late.Concat(second.Late).Select(l => l.Event.Id));
            // Counters and the dedup ids travel in the snapshot: duplicates across the cut are still caught.
            Assert.Equal(reference.Counters with { OpenWindows = 0, TrackedIds = 0 }, after.Counters with { OpenWindows = 0, TrackedIds = 0 });
        }
    }

    [Fact]
    public void A_snapshot_of_other_windows_is_refused()
    {
        var tumbling = EngineRunner.Create(Windows.Tumbling(TimeSpan.FromMinutes(1)), Options);
        EngineRunner.Run(tumbling, Scripts.Cut(Scripts.RandomArrivals(1, events: 100), 1), drain: false);

        var hopping = EngineRunner.Create(Windows.Hopping(TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(10)), Options);

        Assert.Throws<InvalidDataException>(() => hopping.Restore(tumbling.Snapshot()));
    }
}
