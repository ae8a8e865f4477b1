using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>
/// Checkpoints through the DSL: state per source partition, cut between batches, restored wherever the partition goes
/// next, continues as if never stopped.
/// </summary>
public sealed class CheckpointTests
{
    [Fact]
    public void A_restored_run_fed_from_the_checkpoint_offsets_ends_where_an_unbroken_run_ends()
    {
        var batches = OffsetBatches(21);
        var unbroken = new Process();
        unbroken.Feed(batches);
        unbroken.Complete();

        var cut = batches.Count / 2;
        var crashed = new Process();
        crashed.Feed(batches.Take(cut));
        var checkpoint = crashed.Handle.Take(); // the process dies right after: nothing later counts
        Assert.Equal(batches.Take(cut).Select(b => b.Partition).Distinct().Order(), checkpoint.Partitions.Select(p => p.Partition));

        var restarted = new Process(checkpoint);
        restarted.Feed(Remaining(batches, checkpoint));
        restarted.Complete();

        Assert.Equal(unbroken.Final().OrderBy(r => r.Key), Combine(crashed, restarted).OrderBy(r => r.Key));
    }

    [Fact]
    public void A_partition_moved_to_another_process_continues_there_from_its_own_checkpoint()
    {
        var batches = OffsetBatches(5);
        var unbroken = new Process();
        unbroken.Feed(batches);
        unbroken.Complete();

        // Process A reads everything up to the rebalance, checkpoints, and gives partition 1 away to process B.
        var rebalance = batches.Count / 3;
        var a = new Process();
        a.Feed(batches.Take(rebalance));
        var handover = a.Handle.Take();
        a.Source.OnNext(EventBatch.Revoked<TestEvent>(1));
        var b = new Process(handover, partitions: [1]);
        foreach (var batch in batches.Skip(rebalance))
        {
            (batch.Partition == 1 ? b : a).Send(batch);
        }

        a.Complete();
        b.Complete();

        Assert.All(b.Outcome.Emitted, r => Assert.Equal(1, r.Partition));
        Assert.Equal(unbroken.Final().OrderBy(r => r.Key), Combine(a, b).OrderBy(r => r.Key));
    }

    [Fact]
    public void Take_leaves_out_partitions_whose_state_is_stored_until_they_change_again()
    {
        var batches = OffsetBatches(8).Where(b => b.Partition is 0 or 1).ToList();
        var process = new Process();
        process.Feed(batches.Take(10));
        var first = process.Handle.Take();
        Assert.NotEmpty(first.Partitions);
        Assert.Equal(first.Partitions.Select(p => p.Partition), process.Handle.Take().Partitions.Select(p => p.Partition)); // not confirmed yet

        process.Handle.Confirm(first);
        Assert.True(process.Handle.Take().IsEmpty);

        var next = batches.Skip(10).First();
        process.Send(next);
        var second = process.Handle.Take();
        Assert.Equal([next.Partition], second.Partitions.Select(p => p.Partition));
        Assert.Equal(next.NextOffset, second.Partitions[0].NextOffset);
    }

    [Fact]
    public void A_state_that_does_not_restore_ends_the_stream_with_the_error()
    {
        var handle = new CheckpointHandle { RestoreState = (_, _, _) => [1, 2, 3] };
        using var source = new Subject<EventBatch<TestEvent>>();
        Exception? error = null;
        using var _ = Pipeline(source, handle, new HistoricalScheduler()).Subscribe(_ => { }, e => error = e);

        source.OnNext(EventBatch.Assigned<TestEvent>(0, 0)); // the assignment restores the partition's state

        Assert.IsAssignableFrom<IOException>(error);
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

    /// <summary>A scripted arrival order cut into batches, each with the offset after it, as a source would deliver them.</summary>
    private static List<EventBatch<TestEvent>> OffsetBatches(int seed)
    {
        var offsets = new Dictionary<int, long>();
        return Scripts.Cut(Scripts.RandomArrivals(seed, events: 3000), seed).OfType<BatchStep>().Select(step =>
        {
            var next = offsets.GetValueOrDefault(step.Partition) + step.Events.Length;
            offsets[step.Partition] = next;
            return new EventBatch<TestEvent>(step.Partition, step.Events, next);
        }).ToList();
    }

    /// <summary>What a source seeking each partition to its checkpoint's offset delivers.</summary>
    private static List<EventBatch<TestEvent>> Remaining(List<EventBatch<TestEvent>> batches, Checkpoint checkpoint)
    {
        var resume = checkpoint.Partitions.ToDictionary(p => p.Partition, p => p.NextOffset);
        return batches.Where(b => b.NextOffset > resume.GetValueOrDefault(b.Partition, -1)).ToList();
    }

    private static Dictionary<(int Key, long Start, long End), (long Count, long Sum)> Combine(Process before, Process after)
    {
        var combined = new EngineRunner.Outcome();
        combined.Emitted.AddRange(before.Outcome.Emitted.Concat(after.Outcome.Emitted));
        return combined.Final();
    }

    private static IObservable<WindowOutput<int, (long Count, long Sum), TestEvent>> Pipeline(IObservable<EventBatch<TestEvent>> source, CheckpointHandle handle, IScheduler clock) =>
        source.WithEventTime(e => e.TimestampMs)
            .Deduplicate(e => e.IdHash)
            .KeyBy(e => e.Key)
            .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(EngineRunner.CountAndSum, WindowedAggregationPropertyTests.Options with { EmitInterval = TimeSpan.Zero }, clock, handle);

    /// <summary>
    /// An engine process: the pipeline on a virtual clock, behind a source that assigns each partition before its
    /// first batch, from the checkpoint's offset, whose state it restores.
    /// </summary>
    private sealed class Process
    {
        private readonly Dictionary<int, long> _starts;
        private readonly HashSet<int> _assigned = [];

        public Process(Checkpoint? restoreFrom = null, int[]? partitions = null)
        {
            var restored = restoreFrom?.Partitions.Where(p => partitions is null || partitions.Contains(p.Partition)).ToList() ?? [];
            _starts = restored.ToDictionary(p => p.Partition, p => p.NextOffset);
            var states = restored.ToDictionary(p => (p.Partition, p.NextOffset), p => p.State);
            Handle = new CheckpointHandle { RestoreState = (p, offset, _) => states.GetValueOrDefault((p, offset)) };
            Pipeline(Source, Handle, new HistoricalScheduler(DateTimeOffset.FromUnixTimeMilliseconds(Scripts.Start))).Subscribe(o => Outcome.Emitted.AddRange(o.Results));
        }

        public void Send(EventBatch<TestEvent> batch)
        {
            if (_assigned.Add(batch.Partition))
            {
                Source.OnNext(EventBatch.Assigned<TestEvent>(batch.Partition, _starts.GetValueOrDefault(batch.Partition, -1)));
            }

            Source.OnNext(batch);
        }

        public Subject<EventBatch<TestEvent>> Source { get; } = new();

        public CheckpointHandle Handle { get; }

        public EngineRunner.Outcome Outcome { get; } = new();

        public void Feed(IEnumerable<EventBatch<TestEvent>> batches)
        {
            foreach (var batch in batches)
            {
                Send(batch);
            }
        }

        public void Complete() => Source.OnCompleted();

        public Dictionary<(int Key, long Start, long End), (long Count, long Sum)> Final() => Outcome.Final();
    }
}
