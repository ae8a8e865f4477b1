using StreamEngine.Core.Events;

namespace StreamEngine.Core.Tests;

/// <summary>A run of the engine written down: batches from partitions at processing times, and timer ticks.</summary>
public abstract record ScriptStep(long NowMs);

public sealed record BatchStep(long NowMs, int Partition, TestEvent[] Events) : ScriptStep(NowMs)
{
    public EventBatch<TestEvent> ToBatch() => new(Partition, Events);
}

public sealed record TickStep(long NowMs) : ScriptStep(NowMs);

/// <summary>The source read the partition to its end (until its next events).</summary>
public sealed record EndStep(long NowMs, int Partition) : ScriptStep(NowMs)
{
    public EventBatch<TestEvent> ToBatch() => EventBatch.EndReached<TestEvent>(Partition, -1);
}

/// <summary>One event from one partition at a processing time, or (Event null) a timer tick (Partition -1) or the partition's end reached.</summary>
public readonly record struct Arrival(int Partition, TestEvent? Event, long NowMs);

/// <summary>
/// Random inputs with disorder, duplicates, late and too-late events, partitions that catch up to their end now and
/// then, one that falls silent at its end, and one that stalls (no events, never at its end) for longer than the
/// allowed lateness and then delivers its backlog.
/// </summary>
public static class Scripts
{
    public const long Start = 1_790_000_000_000;

    public static List<Arrival> RandomArrivals(int seed, int events = 4000, int partitions = 3, int keys = 7, bool idlePartition = true)
    {
        var random = new Random(seed);
        var arrivals = new List<Arrival>();
        var eventTime = new long[partitions];
        var now = Start;
        long nextId = 1;
        var sent = new List<TestEvent>();
        var partition = 0;
        var silenced = false;
        for (var i = 0; i < events; i++)
        {
            // Partitions arrive in runs, as a poll returns them, so batches can hold several events.
            partition = random.NextDouble() < 0.8 ? partition : random.Next(partitions);
            // The last partition falls silent at its end for the second half: it must stop holding the watermark back.
            if (idlePartition && partition == partitions - 1 && i > events / 2)
            {
                if (!silenced)
                {
                    arrivals.Add(new Arrival(partition, null, now));
                    silenced = true;
                }

                partition = 0;
            }

            // Partition 1 stalls a while (its leader unreachable, say: no end reported), far past the lateness.
            if (partitions > 2 && i == events / 3)
            {
                for (var t = 1; t <= 12; t++)
                {
                    arrivals.Add(new Arrival(-1, null, now + t * 40_000));
                }

                now += 12 * 40_000;
            }

            if (random.NextDouble() < 0.02)
            {
                arrivals.Add(new Arrival(partition, null, now)); // the partition was read to its end for a moment
            }

            if (random.NextDouble() < 0.1)
            {
                now += random.Next(1, 400);
            }
            eventTime[partition] = Math.Max(eventTime[partition], Start) + random.Next(0, 300);
            var roll = random.NextDouble();
            TestEvent e;
            if (roll < 0.05 && sent.Count > 0)
            {
                e = sent[random.Next(Math.Max(0, sent.Count - 50), sent.Count)]; // a duplicate, sent again
            }
            else
            {
                var disorder = roll switch
                {
                    < 0.10 => random.Next(0, 20_000),        // a little late
                    < 0.13 => random.Next(60_000, 400_000),  // late, some beyond the allowed lateness
                    _ => random.Next(0, 3_000),
                };
                e = new TestEvent(nextId++, random.Next(keys), eventTime[partition] - disorder, random.Next(1, 1000));
                sent.Add(e);
            }

            arrivals.Add(new Arrival(partition, e, now));
            if (random.NextDouble() < 0.03)
            {
                now += random.Next(0, 40_000);
                arrivals.Add(new Arrival(-1, null, now));
            }
        }

        // Traffic stops at the end of every partition; processing time goes on, so idle partitions resolve.
        for (var p = 0; p < partitions; p++)
        {
            arrivals.Add(new Arrival(p, null, now));
        }

        for (var t = 1; t <= 3; t++)
        {
            arrivals.Add(new Arrival(-1, null, now + t * 40_000));
        }

        return arrivals;
    }

    /// <summary>
    /// Cuts arrivals into single-partition batches of random sizes: consecutive events of one partition with the
    /// same processing time may share a batch; ticks stay where they are.
    /// </summary>
    public static List<ScriptStep> Cut(IReadOnlyList<Arrival> arrivals, int seed, int maxBatch = 40)
    {
        var random = new Random(seed);
        var steps = new List<ScriptStep>();
        var i = 0;
        while (i < arrivals.Count)
        {
            var first = arrivals[i];
            if (first.Event is null)
            {
                steps.Add(first.Partition < 0 ? new TickStep(first.NowMs) : new EndStep(first.NowMs, first.Partition));
                i++;
                continue;
            }

            var size = random.Next(1, maxBatch + 1);
            var batch = new List<TestEvent>();
            while (i < arrivals.Count && batch.Count < size && arrivals[i].Event is { } e && arrivals[i].Partition == first.Partition && arrivals[i].NowMs == first.NowMs)
            {
                batch.Add(e);
                i++;
            }

            steps.Add(new BatchStep(first.NowMs, first.Partition, [.. batch]));
        }

        return steps;
    }
}
