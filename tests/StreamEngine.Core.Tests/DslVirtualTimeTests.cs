using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>The DSL on an observable, in virtual time (System.Reactive's HistoricalScheduler).</summary>
public sealed class DslVirtualTimeTests : IDisposable
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(Scripts.Start);
    private static readonly WindowOptions Options = new()
    {
        WatermarkDelay = TimeSpan.FromSeconds(5),
        AllowedLateness = TimeSpan.FromMinutes(1),
        IdleTimeout = TimeSpan.FromSeconds(20),
        EmitInterval = TimeSpan.FromSeconds(1),
    };

    private readonly HistoricalScheduler _clock = new(T0);
    private readonly Subject<EventBatch<TestEvent>> _source = new();
    private readonly List<WindowOutput<int, long, TestEvent>> _outputs = [];

    public void Dispose() => _source.Dispose();

    private IDisposable Pipeline(WindowOptions? options = null) =>
        _source.WithEventTime(e => e.TimestampMs)
            .Deduplicate(e => e.IdHash)
            .Where(e => e.Value >= 0)
            .KeyBy(e => e.Key)
            .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(Aggregators.Sum<TestEvent>(e => e.Value), options ?? Options, _clock)
            .Subscribe(_outputs.Add);

    private IEnumerable<WindowResult<int, long>> Results => _outputs.SelectMany(o => o.Results);

    private void Send(int partition, params TestEvent[] events) => _source.OnNext(new EventBatch<TestEvent>(partition, events));

    private static long Minute(int minute, int secondsIn = 0) => Scripts.Start - Scripts.Start % 60_000 + minute * 60_000L + secondsIn * 1000L;

    [Fact]
    public void One_output_per_batch_early_updates_each_second_and_a_final_when_the_watermark_passes_the_end()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5), new TestEvent(2, 7, Minute(1, 20), 6), new TestEvent(3, 8, Minute(1, 30), 1));
        Assert.Empty(_outputs);

        _clock.AdvanceBy(TimeSpan.FromSeconds(1));
        var early = Assert.Single(_outputs).Results;
        Assert.All(early, r => Assert.Equal(WindowEmission.Early, r.Emission));
        Assert.Equal([(7, 11L, 2L), (8, 1L, 1L)], early.OrderBy(r => r.Key).Select(r => (r.Key, r.Value, r.Version)));

        _clock.AdvanceBy(TimeSpan.FromSeconds(5));
        Assert.Single(_outputs); // nothing changed: nothing re-sent

        Send(0, new TestEvent(4, 9, Minute(2, 6), 1)); // watermark = 2:06 - 5 s = 2:01, past the first minute's end
        var final = _outputs[^1].Results.Where(r => r.Emission == WindowEmission.Final).OrderBy(r => r.Key).ToList();
        Assert.Equal([(7, 11L), (8, 1L)], final.Select(r => (r.Key, r.Value)));
        Assert.All(final, r => Assert.Equal(Minute(1), r.WindowStartMs));
    }

    [Fact]
    public void Accepted_events_are_the_batch_s_events_that_went_into_windows_in_order_and_stay_as_they_were_sent()
    {
        using var _ = Pipeline(Options with { EmitAcceptedEvents = true });
        TestEvent[] clean = [new(1, 7, Minute(1, 10), 5), new(2, 8, Minute(1, 20), 6)];
        Send(0, clean);
        // A duplicate (id 1), a filtered event (negative value) and one past the allowed lateness are not accepted.
        Send(0, new TestEvent(3, 7, Minute(3, 0), 1), new TestEvent(1, 7, Minute(1, 10), 5), new TestEvent(4, 7, Minute(3, 1), -1),
            new TestEvent(5, 9, Minute(1, 0), 2), new TestEvent(6, 9, Minute(3, 2), 4));
        Send(1, new TestEvent(7, 7, Minute(3, 5), 3));

        var accepted = _outputs.Where(o => o.Accepted.Count > 0).Select(o => $"{o.Accepted.Partition}: {string.Join(' ', o.Accepted.Events.ToArray().Select(e => e.Id))}").ToList();
        Assert.Equal(["0: 1 2", "0: 3 6", "1: 7"], accepted);
        // A batch whose events all went in is kept as it was sent, not copied (they wait for their checkpoint).
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(_outputs.First(o => o.Accepted.Count > 0).Accepted.Events, out var kept));
        Assert.Same(clean, kept.Array);
    }

    [Fact]
    public void A_late_event_within_the_allowed_lateness_updates_its_window_with_a_higher_version()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5), new TestEvent(2, 7, Minute(2, 30), 1));
        Assert.Contains(Results, r => r is { Key: 7, Emission: WindowEmission.Final, Value: 5, Version: 1 });

        Send(0, new TestEvent(3, 7, Minute(1, 50), 10)); // behind the watermark (2:25) by 35 s < 1 min
        _clock.AdvanceBy(TimeSpan.FromSeconds(1));

        var update = Assert.Single(Results, r => r.Emission == WindowEmission.LateUpdate);
        Assert.Equal((7, Minute(1), 15L, 2L), (update.Key, update.WindowStartMs, update.Value, update.Version));
        Assert.Empty(_outputs.SelectMany(o => o.Late));
    }

    [Fact]
    public void An_event_beyond_the_allowed_lateness_goes_to_the_late_output_with_the_reason_and_into_no_result()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(3, 10), 5));
        Send(0, new TestEvent(2, 7, Minute(1, 0), 100)); // watermark 3:05, 2:05 behind

        var late = Assert.Single(_outputs.SelectMany(o => o.Late));
        Assert.Equal(2, late.Event.Id);
        Assert.Contains("allowed lateness", late.Reason, StringComparison.Ordinal);
        Assert.Equal(1, _outputs[^1].Counters.Late);
        _source.OnCompleted();
        Assert.DoesNotContain(Results, r => r.Value >= 100);
    }

    [Fact]
    public void Duplicates_are_dropped_and_counted()
    {
        using var _ = Pipeline();
        var e = new TestEvent(1, 7, Minute(1, 10), 5);
        Send(0, e, e);
        Send(1, e);
        _source.OnCompleted();

        Assert.Equal(5, Assert.Single(Results, r => r.Emission == WindowEmission.Final).Value);
        Assert.Equal(2, _outputs[^1].Counters.Duplicates);
    }

    [Fact]
    public void A_partition_read_to_its_end_and_quiet_for_the_idle_timeout_stops_holding_the_watermark_back()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5));
        Send(1, new TestEvent(2, 8, Minute(1, 15), 1));
        _source.OnNext(EventBatch.EndReached<TestEvent>(1, 1)); // the source read partition 1 to its end
        _clock.AdvanceBy(TimeSpan.FromSeconds(5));
        Send(0, new TestEvent(3, 9, Minute(3, 0), 1));
        Assert.DoesNotContain(Results, r => r.Emission == WindowEmission.Final);

        _clock.AdvanceBy(TimeSpan.FromSeconds(21));
        var finals = Results.Where(r => r.Emission == WindowEmission.Final).Select(r => r.Key).Order().ToList();
        Assert.Equal([7, 8], finals); // keys 7 and 8 got no more events, and their windows closed anyway
    }

    [Fact]
    public void A_stalled_partition_is_never_idle_and_its_backlog_is_not_late_however_long_the_stall()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5));
        Send(1, new TestEvent(2, 8, Minute(1, 15), 1));
        // Partition 1's leader is unreachable for an hour (or the source is paused): no data, and no end reported.
        Send(0, new TestEvent(3, 9, Minute(3, 0), 1));
        _clock.AdvanceBy(TimeSpan.FromHours(1));
        Assert.DoesNotContain(Results, r => r.Emission == WindowEmission.Final);

        // Its backlog arrives, minutes behind partition 0's event time: counted, not late.
        Send(1, new TestEvent(4, 8, Minute(1, 40), 2), new TestEvent(5, 8, Minute(3, 20), 1));
        Assert.Empty(_outputs.SelectMany(o => o.Late));
        Assert.Contains(Results, r => r is { Key: 8, Emission: WindowEmission.Final, Value: 3 });
    }

    [Fact]
    public void A_revoked_partition_stops_holding_event_time_back_at_once()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5));
        Send(1, new TestEvent(2, 8, Minute(1, 15), 1));
        Send(0, new TestEvent(3, 9, Minute(3, 0), 1));
        Assert.DoesNotContain(Results, r => r.Emission == WindowEmission.Final); // partition 1 holds it back

        _source.OnNext(EventBatch.Revoked<TestEvent>(1));

        Assert.Equal([7, 8], Results.Where(r => r.Emission == WindowEmission.Final).Select(r => r.Key).Order());
    }

    [Fact]
    public void When_all_traffic_stops_the_watermark_stays_where_event_time_put_it()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5));
        _source.OnNext(EventBatch.EndReached<TestEvent>(0, 1));
        _clock.AdvanceBy(TimeSpan.FromHours(2));

        // Event time does not run on with the wall clock: the window stays open (its early value went out) and an
        // event that comes hours later for it is still counted.
        Assert.DoesNotContain(Results, r => r.Emission == WindowEmission.Final);
        Assert.Contains(Results, r => r is { Key: 7, Emission: WindowEmission.Early, Value: 5 });
        Send(0, new TestEvent(2, 7, Minute(1, 20), 1));
        _clock.AdvanceBy(TimeSpan.FromSeconds(1));
        Assert.Empty(_outputs.SelectMany(o => o.Late));
        Assert.Contains(Results, r => r is { Key: 7, Value: 6 });
    }

    [Fact]
    public void Events_a_filter_drops_still_move_event_time_forward()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5));
        Send(0, new TestEvent(2, 7, Minute(3, 0), -1)); // filtered out by Value >= 0, but its time counts

        Assert.Contains(Results, r => r is { Key: 7, Emission: WindowEmission.Final, Value: 5 });
        Assert.Equal(1, _outputs[^1].Counters.Filtered);
    }

    [Fact]
    public void While_the_runner_reads_a_backlog_updates_go_out_at_its_pace_a_checkpoint_first_emits_what_it_held_back_and_finals_go_out_at_once()
    {
        var handle = new CheckpointHandle { RestoreState = (_, _, _) => [] };
        using var subscription = _source.WithEventTime(e => e.TimestampMs)
            .KeyBy(e => e.Key)
            .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(Aggregators.Sum<TestEvent>(e => e.Value), Options, _clock, handle)
            .Subscribe(_outputs.Add);
        void SendOwned(params TestEvent[] events) => _source.OnNext(new EventBatch<TestEvent>(0, events, 0, EventBatchKind.Events, 1));
        List<(long Value, WindowEmission Emission)> Updates() => [.. Results.Where(r => r.Key == 7).Select(r => (r.Value, r.Emission))];

        _source.OnNext(EventBatch.Assigned<TestEvent>(0, -1, generation: 1));
        handle.BacklogEmitInterval = TimeSpan.FromSeconds(10);
        SendOwned(new TestEvent(1, 7, Minute(1, 10), 5));
        _clock.AdvanceBy(TimeSpan.FromSeconds(1));
        Assert.Equal([(5L, WindowEmission.Early)], Updates());

        SendOwned(new TestEvent(2, 7, Minute(1, 20), 6));
        _clock.AdvanceBy(TimeSpan.FromSeconds(8)); // eight ticks of the window's 1 s cadence: the backlog's 10 s are not up
        Assert.Equal([(5L, WindowEmission.Early)], Updates());

        // A checkpoint first emits what the pace held back: what it stores covers every result of its offsets.
        var checkpoint = handle.Take();
        Assert.Equal([(5L, WindowEmission.Early), (11L, WindowEmission.Early)], Updates());
        Assert.Equal(0, Assert.Single(checkpoint.Partitions).Partition);

        SendOwned(new TestEvent(3, 7, Minute(1, 25), 2));
        _clock.AdvanceBy(TimeSpan.FromSeconds(9));
        Assert.Equal(2, Updates().Count);
        _clock.AdvanceBy(TimeSpan.FromSeconds(2)); // 10 s since the checkpoint's emission
        Assert.Equal((13L, WindowEmission.Early), Updates()[^1]);

        SendOwned(new TestEvent(4, 7, Minute(1, 30), 1), new TestEvent(5, 9, Minute(2, 6), 1)); // the watermark passes minute 1
        Assert.Equal((14L, WindowEmission.Final), Updates()[^1]);

        handle.BacklogEmitInterval = null; // caught up: updates at the window's own cadence again
        SendOwned(new TestEvent(6, 9, Minute(2, 16), 2));
        _clock.AdvanceBy(TimeSpan.FromSeconds(1));
        Assert.Contains(Results, r => r is { Key: 9, Value: 3, Emission: WindowEmission.Early });
    }

    [Fact]
    public void Without_an_emit_interval_only_finals_are_emitted()
    {
        using var _ = Pipeline(Options with { EmitInterval = TimeSpan.Zero });
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5));
        _clock.AdvanceBy(TimeSpan.FromSeconds(10));
        Assert.Empty(Results);

        _source.OnCompleted();
        Assert.Equal(WindowEmission.Final, Assert.Single(Results).Emission);
    }

    [Fact]
    public void Completion_emits_every_open_window_as_final()
    {
        using var _ = Pipeline();
        Send(0, new TestEvent(1, 7, Minute(1, 10), 5), new TestEvent(2, 8, Minute(4, 10), 3));
        _source.OnCompleted();

        Assert.Equal([(7, 5L), (8, 3L)], Results.Where(r => r.Emission == WindowEmission.Final).OrderBy(r => r.Key).Select(r => (r.Key, r.Value)));
    }
}
