using System.Diagnostics;
using System.Reactive.Linq;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Bench;

/// <summary>
/// Nexmark-style queries on the core, one thread, over generated events in memory (the shape of Flink's Nexmark
/// workload: 2% people, 6% auctions, 92% bids; 10M events per second of event time; hot auctions), in batches of
/// 10,000 as the Kafka source hands them over. q0 pass-through, q1 currency conversion, q2 selection: per-batch Rx
/// operators over the core's batch stream. q5 hot items (hopping 10 s every 2 s, bids per auction, the auctions
/// with the most per window) and q7 highest bid (tumbling 10 s, the bids at the window's highest price): the core's
/// windowed aggregation (finals only). Every event counts toward throughput, as in Flink's figures. Events are
/// generated before the clock starts (Flink's datagen source runs inside its measured job) and carry no strings
/// (channel, url, extra), so these are an upper bound for the core's operators, not a like-for-like comparison.
/// </summary>
internal static class Nexmark
{
    private const int BatchSize = 10_000;

    /// <summary>Flink 1.13's published Nexmark results (nexmark/nexmark README: 8 TaskManagers on 3 x 8-core machines), throughput per core.</summary>
    private static readonly Dictionary<string, double> FlinkPerCore = new() { ["q0"] = 155_020, ["q1"] = 157_940, ["q2"] = 175_210, ["q5"] = 22_140, ["q7"] = 12_330 };

    internal enum Kind : byte
    {
        Person,
        Auction,
        Bid,
    }

    internal readonly record struct Event(Kind Kind, long Auction, long Bidder, long Price, long DateTimeMs);

    internal readonly record struct Output(long Auction, long Bidder, long Price, long DateTimeMs);

    public static List<Measurement> Run(long events, int repetitions)
    {
        var batches = Generate(events);
        var results = new List<Measurement>();
        foreach (var (query, run) in new (string, Func<EventBatch<Event>[], long>)[] { ("q0", Q0), ("q1", Q1), ("q2", Q2), ("q5", Q5), ("q7", Q7) })
        {
            var rates = new List<double>();
            var perCore = new List<double>();
            long outputs = 0;
            for (var i = 0; i < repetitions; i++)
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                outputs = run(batches);
                var elapsed = watch.Elapsed.TotalSeconds;
                rates.Add(events / elapsed);
                perCore.Add(events / (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
            }

            var note = FormattableString.Invariant($"{outputs:N0} results; Flink 1.13 published {FlinkPerCore[query]:N0} events/s per core (other hardware, a distributed runtime with checkpoints)");
            results.Add(new Measurement($"Nexmark {query}, one thread", "events/s", rates, note));
            results.Add(new Measurement($"Nexmark {query}, per CPU-second", "events/s", perCore, "events / process CPU time"));
            Console.Error.WriteLine(FormattableString.Invariant($"  {query}: median {results[^2].Median:N0} events/s, {results[^1].Median:N0} per CPU-second; {note}"));
        }

        return results;
    }

    /// <summary>Pass-through: every bid copied to the output.</summary>
    private static long Q0(EventBatch<Event>[] batches) => Sink(batches.ToObservable().Select(batch => Map(batch, e => e.Kind == Kind.Bid, e => new Output(e.Auction, e.Bidder, e.Price, e.DateTimeMs))));

    /// <summary>Currency conversion: each bid's price in euros.</summary>
    private static long Q1(EventBatch<Event>[] batches) =>
        Sink(batches.ToObservable().Select(batch => Map(batch, e => e.Kind == Kind.Bid, e => new Output(e.Auction, e.Bidder, (long)(e.Price * 0.908), e.DateTimeMs))));

    /// <summary>Selection: the bids on auctions whose id is a multiple of 123.</summary>
    private static long Q2(EventBatch<Event>[] batches) =>
        Sink(batches.ToObservable().Select(batch => Map(batch, e => e.Kind == Kind.Bid && e.Auction % 123 == 0, e => new Output(e.Auction, 0, e.Price, 0))));

    /// <summary>Hot items: bids per auction in 10-second windows every 2 seconds, then each window's most-bid auctions.</summary>
    private static long Q5(EventBatch<Event>[] batches)
    {
        long hot = 0;
        var window = long.MinValue;
        long best = 0, atBest = 0;
        batches.ToObservable()
            .WithEventTime(e => e.DateTimeMs)
            .Where(e => e.Kind == Kind.Bid)
            .KeyBy(e => e.Auction)
            .Window(StreamEngine.Core.Windowing.Windows.Hopping(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2)))
            .Count(FinalsOnly)
            .Subscribe(output =>
            {
                // Finals leave a window's keys together (windows close in end order).
                foreach (var result in output.Results)
                {
                    if (result.WindowStartMs != window)
                    {
                        hot += atBest;
                        (window, best, atBest) = (result.WindowStartMs, 0, 0);
                    }

                    if (result.Value > best)
                    {
                        (best, atBest) = (result.Value, 1);
                    }
                    else if (result.Value == best)
                    {
                        atBest++;
                    }
                }
            });
        return hot + atBest;
    }

    /// <summary>Highest bid: per 10-second window, the bids at the highest price.</summary>
    private static long Q7(EventBatch<Event>[] batches)
    {
        long highest = 0;
        batches.ToObservable()
            .WithEventTime(e => e.DateTimeMs)
            .Where(e => e.Kind == Kind.Bid)
            .KeyBy(_ => 0)
            .Window(StreamEngine.Core.Windowing.Windows.Tumbling(TimeSpan.FromSeconds(10)))
            .Aggregate(new HighestBids(), FinalsOnly)
            .Subscribe(output => highest += output.Results.Sum(r => r.Value.Count));
        return highest;
    }

    private static readonly WindowOptions FinalsOnly = new() { WatermarkDelay = TimeSpan.FromSeconds(1), AllowedLateness = TimeSpan.Zero, EmitInterval = TimeSpan.Zero };

    private static Output[] Map(EventBatch<Event> batch, Func<Event, bool> keep, Func<Event, Output> map)
    {
        var output = new List<Output>(batch.Count);
        foreach (var e in batch.Events.Span)
        {
            if (keep(e))
            {
                output.Add(map(e));
            }
        }

        return [.. output];
    }

    private static long Sink(IObservable<Output[]> outputs)
    {
        long count = 0;
        outputs.Subscribe(batch => count += batch.Length);
        return count;
    }

    /// <summary>The shape of Flink's Nexmark generator: one event in 50 a person, 3 auctions, 46 bids; half the bids on 100 hot auctions.</summary>
    private static EventBatch<Event>[] Generate(long count)
    {
        var random = new Random(7);
        var startMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var batches = new List<EventBatch<Event>>();
        var batch = new Event[BatchSize];
        var filled = 0;
        long auctions = 1000, people = 1000;
        for (long i = 0; i < count; i++)
        {
            var timestamp = startMs + i / 10_000; // 10M events per second of event time
            var slot = i % 50;
            batch[filled++] = slot == 0
                ? new Event(Kind.Person, 0, people++, 0, timestamp)
                : slot <= 3
                    ? new Event(Kind.Auction, auctions++, random.NextInt64(1000, people), 0, timestamp)
                    : new Event(Kind.Bid, random.Next(2) == 0 ? random.Next(100) * 10 : auctions - random.Next(1, 1000), random.NextInt64(1000, people),
                        (long)(100 * Math.Pow(10, random.NextDouble() * 4)), timestamp);
            if (filled == BatchSize)
            {
                batches.Add(new EventBatch<Event>(0, batch, i + 1));
                batch = new Event[BatchSize];
                filled = 0;
            }
        }

        if (filled > 0)
        {
            batches.Add(new EventBatch<Event>(0, batch.AsMemory(0, filled), count));
        }

        return [.. batches];
    }

    /// <summary>The highest price of a window and the bids at it.</summary>
    private sealed class HighestBids : IAggregator<Event, List<Output>, List<Output>>
    {
        public List<Output> Create() => [];

        public void Add(ref List<Output> accumulator, in Event item)
        {
            if (accumulator.Count > 0 && item.Price < accumulator[0].Price)
            {
                return;
            }

            if (accumulator.Count > 0 && item.Price > accumulator[0].Price)
            {
                accumulator.Clear();
            }

            accumulator.Add(new Output(item.Auction, item.Bidder, item.Price, item.DateTimeMs));
        }

        public void Merge(ref List<Output> into, List<Output> other)
        {
            foreach (var bid in other)
            {
                var e = new Event(Kind.Bid, bid.Auction, bid.Bidder, bid.Price, bid.DateTimeMs);
                Add(ref into, e);
            }
        }

        public List<Output> Result(List<Output> accumulator) => accumulator;

        public void Write(BinaryWriter writer, List<Output> accumulator) => throw new NotSupportedException("not checkpointed in the benchmark");

        public List<Output> Read(BinaryReader reader) => throw new NotSupportedException("not checkpointed in the benchmark");
    }
}
