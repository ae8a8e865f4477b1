using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>Drives the engine through a script and folds its output the way an upserting sink would.</summary>
public static class EngineRunner
{
    public static readonly IAggregator<TestEvent, (long, long), (long Count, long Sum)> CountAndSum =
        Aggregators.Combine(Aggregators.Count<TestEvent>(), Aggregators.Sum<TestEvent>(e => e.Value));

    public static WindowedAggregation<TestEvent, int, (long, long), (long Count, long Sum)> Create(WindowSpec window, WindowOptions options, bool dedup = true) =>
        new(new WindowedAggregationSpec<TestEvent, int>(e => e.TimestampMs, e => e.Key, window, EventId: dedup ? e => e.IdHash : null), CountAndSum, options);

    public sealed class Outcome
    {
        public List<WindowResult<int, (long Count, long Sum)>> Emitted { get; } = [];

        public List<LateEvent<TestEvent>> Late { get; } = [];

        /// <summary>
        /// What a sink holds after upserting every result by (key, start, partition) by version and deleting
        /// retractions, with the partitions' partials of a window added up.
        /// </summary>
        public Dictionary<(int Key, long Start, long End), (long Count, long Sum)> Final()
        {
            var rows = new Dictionary<(int Key, long Start, int Partition), WindowResult<int, (long Count, long Sum)>>();
            foreach (var result in Emitted)
            {
                var id = (result.Key, result.WindowStartMs, result.Partition);
                if (result.Emission == WindowEmission.Retraction)
                {
                    if (rows.TryGetValue(id, out var current) && current.Version <= result.Version)
                    {
                        rows.Remove(id);
                    }
                }
                else if (!rows.TryGetValue(id, out var current) || current.Version <= result.Version)
                {
                    rows[id] = result;
                }
            }

            return rows.Values.GroupBy(r => (r.Key, r.WindowStartMs, r.WindowEndMs))
                .ToDictionary(g => g.Key, g => (g.Sum(r => r.Value.Count), g.Sum(r => r.Value.Sum)));
        }
    }

    public static Outcome Run(WindowedAggregation<TestEvent, int, (long, long), (long Count, long Sum)> engine, IEnumerable<ScriptStep> steps, bool drain = true)
    {
        var outcome = new Outcome();
        foreach (var step in steps)
        {
            switch (step)
            {
                case BatchStep batch:
                    engine.Process(batch.ToBatch(), batch.NowMs, outcome.Emitted, outcome.Late);
                    break;
                case TickStep tick:
                    engine.Tick(tick.NowMs, outcome.Emitted);
                    break;
                case EndStep end:
                    engine.Process(end.ToBatch(), end.NowMs, outcome.Emitted, outcome.Late);
                    break;
            }
        }

        if (drain)
        {
            engine.Drain(outcome.Emitted);
        }

        return outcome;
    }
}
