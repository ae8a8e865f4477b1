using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>Checkpoints through the DSL: a cut taken between batches, restored in a new run, continues as if never stopped.</summary>
public sealed class CheckpointTests
{
    [Fact]
    public void A_restored_run_fed_from_the_checkpoint_offsets_ends_where_an_unbroken_run_ends()
    {
        var steps = Scripts.Cut(Scripts.RandomArrivals(21, events: 3000), 21).OfType<BatchStep>().ToList();
        var offsets = new Dictionary<int, long>();
        var batches = steps.Select(step =>
        {
            var next = offsets.GetValueOrDefault(step.Partition) + step.Events.Length;
            offsets[step.Partition] = next;
            return new EventBatch<TestEvent>(step.Partition, step.Events, next);
        }).ToList();

        var unbroken = Run(batches, restoreFrom: null, takeAfter: -1, out _);

        var cut = batches.Count / 2;
        var firstHalf = Run(batches, restoreFrom: null, takeAfter: cut, out var checkpoint);
        Assert.NotNull(checkpoint);
        // Resume each partition after the offset the checkpoint covers, as a source seeking there would.
        var rest = batches.Where(b => b.NextOffset > checkpoint.NextOffsets.GetValueOrDefault(b.Partition, -1)).ToList();
        Assert.Equal(batches.Count - cut, rest.Count);
        var secondHalf = Run(rest, restoreFrom: checkpoint.State, takeAfter: -1, out _);

        var combined = new EngineRunner.Outcome();
        combined.Emitted.AddRange(firstHalf.Emitted.Concat(secondHalf.Emitted));
        Assert.Equal(unbroken.Final().OrderBy(r => r.Key), combined.Final().OrderBy(r => r.Key));
    }

    [Fact]
    public void Taking_a_checkpoint_needs_a_running_aggregation_and_one_handle_serves_one_run()
    {
        var handle = new CheckpointHandle();
        Assert.Throws<InvalidOperationException>(() => handle.Take());

        using var source = new Subject<EventBatch<TestEvent>>();
        var pipeline = Pipeline(source, handle, new HistoricalScheduler());
        using (pipeline.Subscribe(_ => { }))
        {
            Assert.True(handle.IsAttached);
            Exception? second = null;
            using var again = pipeline.Subscribe(_ => { }, e => second = e);
            Assert.IsType<InvalidOperationException>(second);
        }

        Assert.False(handle.IsAttached);
    }

    private static IObservable<WindowOutput<int, (long Count, long Sum), TestEvent>> Pipeline(IObservable<EventBatch<TestEvent>> source, CheckpointHandle handle, IScheduler clock) =>
        source.WithEventTime(e => e.TimestampMs)
            .Deduplicate(e => e.IdHash)
            .KeyBy(e => e.Key)
            .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(EngineRunner.CountAndSum, WindowedAggregationPropertyTests.Options with { EmitInterval = TimeSpan.Zero }, clock, handle);

    private static EngineRunner.Outcome Run(List<EventBatch<TestEvent>> batches, byte[]? restoreFrom, int takeAfter, out Checkpoint? checkpoint)
    {
        checkpoint = null;
        var outcome = new EngineRunner.Outcome();
        var handle = new CheckpointHandle { RestoreFrom = restoreFrom };
        using var source = new Subject<EventBatch<TestEvent>>();
        using var _ = Pipeline(source, handle, new HistoricalScheduler(DateTimeOffset.FromUnixTimeMilliseconds(Scripts.Start)))
            .Subscribe(o => outcome.Emitted.AddRange(o.Results));
        for (var i = 0; i < batches.Count; i++)
        {
            source.OnNext(batches[i]);
            if (i + 1 == takeAfter)
            {
                checkpoint = handle.Take();
                return outcome; // the process dies here: nothing after the checkpoint counts
            }
        }

        source.OnCompleted();
        return outcome;
    }
}
