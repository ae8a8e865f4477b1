using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>A job as a job author writes it: a small class whose pipeline reads top to bottom.</summary>
public sealed class SpendPerKeyJob : IStreamJob<TestEvent, WindowOutput<int, (long Events, long Spend), TestEvent>>
{
    public string Name => "spend-per-key";

    public IObservable<WindowOutput<int, (long Events, long Spend), TestEvent>> Build(IObservable<EventBatch<TestEvent>> events, JobContext context) =>
        events.WithEventTime(e => e.TimestampMs)
            .Deduplicate(e => e.IdHash)
            .Where(e => e.Value > 0)
            .KeyBy(e => e.Key)
            .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(Aggregators.Combine(Aggregators.Count<TestEvent>(), Aggregators.Sum<TestEvent>(e => e.Value)), context.Windowing, context.Scheduler);
}

public sealed class JobTests
{
    [Fact]
    public void A_job_class_runs_its_pipeline_on_the_events_the_host_gives_it()
    {
        var clock = new HistoricalScheduler(DateTimeOffset.FromUnixTimeMilliseconds(Scripts.Start));
        using var source = new Subject<EventBatch<TestEvent>>();
        var results = new List<WindowResult<int, (long Events, long Spend)>>();
        var job = new SpendPerKeyJob();

        using var _ = job.Build(source, new JobContext(new WindowOptions(), clock)).Subscribe(o => results.AddRange(o.Results));
        var minute = Scripts.Start - Scripts.Start % 60_000;
        source.OnNext(new EventBatch<TestEvent>(0, new TestEvent[]
        {
            new(1, 3, minute + 1000, 250), new(2, 3, minute + 2000, 750), new(2, 3, minute + 2000, 750), new(3, 3, minute + 3000, -5), new(4, 4, minute + 4000, 10),
        }));
        source.OnCompleted();

        Assert.Equal("spend-per-key", job.Name);
        Assert.Equal([(3, (2L, 1000L)), (4, (1L, 10L))], results.Where(r => r.IsFinal).OrderBy(r => r.Key).Select(r => (r.Key, r.Value)));
    }
}
