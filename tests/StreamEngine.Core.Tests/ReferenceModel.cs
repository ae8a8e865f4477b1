using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>
/// The counting rules computed the slow, obvious way, event by event, for comparison with the engine: a
/// watermark recomputed from every partition on every event (event time only: a partition counts as idle only once
/// it was read to its end and stayed quiet for the idle timeout; when all are idle, the most advanced one's
/// watermark), a set of every id ever seen, windows found by scanning, sessions by sorting. Only count and sum are
/// aggregated (exact).
/// </summary>
public sealed class ReferenceModel(WindowSpec window, WindowOptions options)
{
    private readonly Dictionary<int, (long Max, long? EndSince, bool Idle)> _partitions = [];
    private readonly HashSet<long> _seenIds = [];
    private readonly List<TestEvent> _accepted = [];

    public long Watermark { get; private set; } = long.MinValue;

    public List<TestEvent> Late { get; } = [];

    public long Duplicates { get; private set; }

    public static ReferenceModel Run(IEnumerable<ScriptStep> steps, WindowSpec window, WindowOptions options, bool dedup = true)
    {
        var model = new ReferenceModel(window, options);
        foreach (var step in steps)
        {
            switch (step)
            {
                case BatchStep batch:
                    model.Batch(batch, dedup);
                    break;
                case TickStep tick:
                    model.Tick(tick.NowMs);
                    break;
                case EndStep end:
                    var state = model._partitions.GetValueOrDefault(end.Partition, (long.MinValue, null, false));
                    model._partitions[end.Partition] = (state.Max, state.EndSince ?? end.NowMs, state.Idle);
                    break;
            }
        }

        return model;
    }

    /// <summary>Final (count, sum) per (key, window start, window end) over the accepted events.</summary>
    public Dictionary<(int Key, long Start, long End), (long Count, long Sum)> Results()
    {
        var results = new Dictionary<(int, long, long), (long Count, long Sum)>();
        if (window.Kind == WindowKind.Session)
        {
            foreach (var byKey in _accepted.GroupBy(e => e.Key))
            {
                var sorted = byKey.OrderBy(e => e.TimestampMs).ToList();
                var start = sorted[0].TimestampMs;
                var end = start + window.GapMs;
                long count = 0, sum = 0;
                foreach (var e in sorted)
                {
                    if (e.TimestampMs >= end)
                    {
                        results[(byKey.Key, start, end)] = (count, sum);
                        (start, count, sum) = (e.TimestampMs, 0, 0);
                    }

                    end = Math.Max(end, e.TimestampMs + window.GapMs);
                    count++;
                    sum += e.Value;
                }

                results[(byKey.Key, start, end)] = (count, sum);
            }

            return results;
        }

        foreach (var e in _accepted)
        {
            // Every window [s, s + size) with s a multiple of the advance that contains the event.
            var first = (long)Math.Floor((double)(e.TimestampMs - window.SizeMs + 1) / window.AdvanceMs) * window.AdvanceMs;
            for (var s = first; s <= e.TimestampMs; s += window.AdvanceMs)
            {
                if (s <= e.TimestampMs && e.TimestampMs < s + window.SizeMs)
                {
                    var key = (e.Key, s, s + window.SizeMs);
                    var (count, sum) = results.GetValueOrDefault(key);
                    results[key] = (count + 1, sum + e.Value);
                }
            }
        }

        return results;
    }

    private void Batch(BatchStep batch, bool dedup)
    {
        var state = _partitions.GetValueOrDefault(batch.Partition, (long.MinValue, null, false));
        _partitions[batch.Partition] = (state.Max, null, false);
        Recompute();
        foreach (var e in batch.Events)
        {
            if (Watermark != long.MinValue && e.TimestampMs < Watermark - (long)options.AllowedLateness.TotalMilliseconds)
            {
                Late.Add(e);
                continue;
            }

            if (dedup && !_seenIds.Add(e.Id))
            {
                Duplicates++;
            }
            else
            {
                _accepted.Add(e);
            }

            var current = _partitions[batch.Partition];
            _partitions[batch.Partition] = (Math.Max(current.Max, e.TimestampMs), null, false);
            Recompute();
        }
    }

    private void Tick(long now)
    {
        foreach (var (partition, state) in _partitions.ToList())
        {
            _partitions[partition] = (state.Max, state.EndSince, state.EndSince is { } since && now - since >= (long)options.IdleTimeout.TotalMilliseconds);
        }

        Recompute();
    }

    private void Recompute()
    {
        var delay = (long)options.WatermarkDelay.TotalMilliseconds;
        long PartitionWatermark((long Max, long? EndSince, bool Idle) p) => p.Max == long.MinValue ? long.MinValue : p.Max - delay;
        var active = _partitions.Values.Where(p => !p.Idle).ToList();
        var candidate = active.Count > 0 ? active.Min(PartitionWatermark) : _partitions.Values.Max(PartitionWatermark);
        Watermark = Math.Max(Watermark, candidate);
    }
}
