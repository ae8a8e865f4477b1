using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>
/// The per-partition lifecycle under a checkpoint handle: a partition's state exists only between its assignment
/// and its release; events that arrive outside it (in flight when the partition left, or of an earlier assignment)
/// are discarded, never turned into a fresh state whose checkpoint would claim the partition's offsets.
/// </summary>
public sealed class PartitionLifecycleTests : IDisposable
{
    private static readonly long Minute0 = Scripts.Start - Scripts.Start % 60_000;
    private readonly Subject<EventBatch<TestEvent>> _source = new();
    private readonly List<WindowOutput<int, (long Count, long Sum), TestEvent>> _outputs = [];
    private readonly Dictionary<(int Partition, long Offset), byte[]> _stored = [];
    private readonly CheckpointHandle _handle;
    private readonly IDisposable _subscription;

    public PartitionLifecycleTests()
    {
        _handle = new CheckpointHandle { RestoreState = (partition, offset, _) => _stored.GetValueOrDefault((partition, offset)) };
        _subscription = _source.WithEventTime(e => e.TimestampMs)
            .Deduplicate(e => e.IdHash)
            .KeyBy(e => e.Key)
            .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(EngineRunner.CountAndSum, WindowedAggregationPropertyTests.Options with { EmitInterval = TimeSpan.Zero },
                new HistoricalScheduler(DateTimeOffset.FromUnixTimeMilliseconds(Scripts.Start)), _handle)
            .Subscribe(_outputs.Add);
    }

    public void Dispose()
    {
        _subscription.Dispose();
        _source.Dispose();
    }

    [Fact]
    public void Events_of_a_partition_that_was_never_assigned_are_discarded_and_counted()
    {
        Events(0, nextOffset: 2, generation: 0, Event(1, 10), Event(2, 20));

        Assert.True(_handle.Take().IsEmpty);
        Assert.Equal(2, Counters.Discarded);
        Assert.Equal(0, Counters.EventsIn);
    }

    [Fact]
    public void Events_in_flight_when_a_partition_was_revoked_never_become_state_or_a_checkpoint()
    {
        _source.OnNext(EventBatch.Assigned<TestEvent>(1, -1, generation: 4));
        Events(1, nextOffset: 2, generation: 4, Event(1, 10), Event(2, 20));
        Store(_handle.Take());
        _source.OnNext(EventBatch.Revoked<TestEvent>(1, generation: 4));

        // A poll that was under way when the revocation came hands on what it took of the partition.
        Events(1, nextOffset: 5, generation: 4, Event(3, 30), Event(4, 40), Event(5, 50));

        Assert.True(_handle.Take().IsEmpty, "no checkpoint may claim offsets of a partition this process does not hold");
        Assert.Equal(3, Counters.Discarded);
    }

    [Fact]
    public void A_partition_assigned_again_is_restored_from_its_checkpoint_not_from_what_this_process_still_held()
    {
        _source.OnNext(EventBatch.Assigned<TestEvent>(0, -1, generation: 1));
        Events(0, nextOffset: 2, generation: 1, Event(1, 10), Event(2, 20));
        var stored = Store(_handle.Take());
        Events(0, nextOffset: 3, generation: 1, Event(3, 30)); // read, never checkpointed

        // The partition is lost and comes back (a new generation) from the stored offset: offset 2 is read again.
        _source.OnNext(EventBatch.Lost<TestEvent>(0, generation: 1));
        _source.OnNext(EventBatch.Assigned<TestEvent>(0, stored.NextOffset, generation: 2));
        Events(0, nextOffset: 3, generation: 2, Event(3, 30));
        _source.OnCompleted();

        var final = _outputs.SelectMany(o => o.Results).Where(r => r.Emission == WindowEmission.Final).ToList();
        Assert.Equal((3L, 60L), Assert.Single(final).Value); // not (4, 90): the event read twice counts once
        Assert.Equal(0, Counters.Discarded);
    }

    [Fact]
    public void Batches_of_an_earlier_assignment_are_discarded_after_the_partition_is_assigned_again()
    {
        _source.OnNext(EventBatch.Assigned<TestEvent>(0, -1, generation: 1));
        _source.OnNext(EventBatch.Assigned<TestEvent>(0, -1, generation: 2));
        Events(0, nextOffset: 1, generation: 2, Event(1, 10));
        Events(0, nextOffset: 2, generation: 1, Event(2, 10)); // left in a queue from the first assignment

        var checkpoint = Assert.Single(_handle.Take().Partitions);
        Assert.Equal(2, checkpoint.Generation);
        Assert.Equal(1, Counters.Discarded);
        Assert.Equal(1, Counters.Aggregated);
    }

    [Fact]
    public void A_lost_partition_is_dropped_without_a_checkpoint_and_a_release_of_another_generation_is_ignored()
    {
        _source.OnNext(EventBatch.Assigned<TestEvent>(0, -1, generation: 3));
        _source.OnNext(EventBatch.Assigned<TestEvent>(1, -1, generation: 3));
        Events(0, nextOffset: 1, generation: 3, Event(1, 10));
        Events(1, nextOffset: 1, generation: 3, Event(2, 20));

        _source.OnNext(EventBatch.Lost<TestEvent>(0, generation: 3));
        _source.OnNext(EventBatch.Revoked<TestEvent>(1, generation: 2)); // stale: partition 1 is held as generation 3

        var checkpoint = _handle.Take();
        Assert.Equal([1], checkpoint.Partitions.Select(p => p.Partition));
        Assert.Equal(3, checkpoint.Partitions[0].Generation);
        Assert.Equal(1, checkpoint.Partitions[0].NextOffset);
    }

    [Fact]
    public void A_checkpoint_carries_each_partitions_own_watermark()
    {
        _source.OnNext(EventBatch.Assigned<TestEvent>(0, -1, generation: 1));
        _source.OnNext(EventBatch.Assigned<TestEvent>(1, -1, generation: 1));
        Events(0, nextOffset: 1, generation: 1, Event(1, 70));
        Events(1, nextOffset: 1, generation: 1, Event(2, 20));

        var watermarks = _handle.Take().Partitions.ToDictionary(p => p.Partition, p => p.WatermarkMs);
        var delay = (long)WindowedAggregationPropertyTests.Options.WatermarkDelay.TotalMilliseconds;
        Assert.Equal(Minute0 + 70_000 - delay, watermarks[0]);
        Assert.Equal(Minute0 + 20_000 - delay, watermarks[1]);
    }

    private WindowCounters Counters => Assert.IsType<WindowOutput<int, (long Count, long Sum), TestEvent>>(_outputs.LastOrDefault()).Counters;

    private static TestEvent Event(long id, int secondsIn) => new(id, 7, Minute0 + secondsIn * 1000L, 10 * id);

    private void Events(int partition, long nextOffset, long generation, params TestEvent[] events) =>
        _source.OnNext(new EventBatch<TestEvent>(partition, events, nextOffset, EventBatchKind.Events, generation));

    private PartitionCheckpoint Store(Checkpoint checkpoint)
    {
        var partition = Assert.Single(checkpoint.Partitions);
        _stored[(partition.Partition, partition.NextOffset)] = partition.State;
        _handle.Confirm(checkpoint);
        return partition;
    }
}
