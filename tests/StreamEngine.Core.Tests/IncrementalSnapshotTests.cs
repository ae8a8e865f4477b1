using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>
/// Snapshots in segments: once a checkpoint is stored, later ones carry only the segments that changed and refer to
/// the rest by hash. The guarantee tried here: whatever the input (late events, duplicates, merging sessions,
/// windows closing and expiring) and whichever checkpoints fail to be stored, a stored checkpoint with its segments
/// put back is byte for byte the state a full snapshot of the same moment holds, and restores to a run that goes on
/// exactly as the unbroken one. A change the aggregation forgot to mark would leave a stale segment referred to, and
/// the bytes would differ.
/// </summary>
public sealed class IncrementalSnapshotTests
{
    public static TheoryData<string> Windowings => ["tumbling", "hopping", "session"];

    [Theory]
    [MemberData(nameof(Windowings))]
    public void A_stored_checkpoint_put_back_together_is_the_full_snapshot_of_its_moment_and_restores_to_the_same_run(string windowing)
    {
        for (var seed = 1; seed <= 40; seed++)
        {
            var random = new Random(seed * 7919 + windowing.Length);
            // The last seeds are dense, with a long dedup horizon: buckets of thousands of ids, kept in several parts.
            var dense = seed > 36;
            var input = Input(random, batches: dense ? 90 : 120, mostPerBatch: dense ? 300 : 25);
            // A few seeds remember so few ids that buckets are forgotten early (and, dense, made again by late events).
            var maxIds = seed % 4 == 0 ? (dense ? 6_000 : 40) : 20_000_000;
            WindowedAggregation<TestEvent, int, long, long> Make() => Aggregation(windowing, maxIds, dense ? TimeSpan.FromMinutes(5) : null);
            var incremental = Make();  // told what was stored: refers to unchanged segments by hash
            var full = Make();         // never told: every snapshot whole, the reference
            var store = new Dictionary<UInt128, byte[]>();
            var (inlineBytes, fullBytes) = (0L, 0L);
            byte[]? unconfirmed = null;
            for (var i = 0; i < input.Count; i++)
            {
                var (a, b) = (new List<WindowResult<int, long>>(), new List<WindowResult<int, long>>());
                incremental.Process(input[i], Now(i), a, []);
                full.Process(input[i], Now(i), b, []);
                // As the runtime does: a checkpoint is confirmed once stored, after the aggregation went on. One in
                // five is not stored (the write failed): nothing of it may be referred to later.
                if (unconfirmed is not null && random.Next(5) != 0)
                {
                    incremental.MarkStored(StateSegments.References(unconfirmed));
                }

                unconfirmed = null;
                if (i % 3 == 2)
                {
                    incremental.Tick(Now(i), a);
                    full.Tick(Now(i), b);
                }

                Assert.Equal(b, a);
                if (i % 4 != 3)
                {
                    continue;
                }

                var snapshot = incremental.Snapshot();
                var whole = full.Snapshot();
                Assert.Equal(StateSegments.References(whole).Count, StateSegments.Inline(whole).Count); // never told: all inline
                foreach (var (hash, data) in StateSegments.Inline(snapshot))
                {
                    store[hash] = data.ToArray();
                }

                var resolved = StateSegments.Resolve(StateSegments.ToManifest(snapshot), h => store.TryGetValue(h, out var d) ? d : null);
                Assert.True(resolved.AsSpan().SequenceEqual(whole), $"seed {seed}, batch {i}: the stored checkpoint put back differs from the full snapshot");
                (inlineBytes, fullBytes) = (inlineBytes + snapshot.Length, fullBytes + whole.Length);

                unconfirmed = snapshot;
                if (random.Next(8) == 0)
                {
                    AssertRestoresToTheSameRun(Make, resolved, input.Skip(i + 1).Take(30).ToList(), i + 1, full, store, seed);
                }
            }

            // What a stored state saves: later checkpoints write less than the whole state each time (here 0.44-0.69 of
            // it: a small state that late events keep touching; the demo's checkpoints carry 7-11%). Not with
            // a few thousand ids, where buckets go as fast as they come.
            Assert.True(maxIds < 20_000_000 || inlineBytes < fullBytes * 0.8, $"seed {seed}: checkpoints carried {inlineBytes:N0} bytes inline of {fullBytes:N0} in full snapshots");
        }
    }

    [Fact]
    public void A_state_whose_segment_the_store_lost_is_refused_with_the_segment_named_not_restored_wrong()
    {
        var aggregation = Aggregation("tumbling");
        var input = Input(new Random(3), batches: 40);
        for (var i = 0; i < input.Count; i++)
        {
            aggregation.Process(input[i], Now(i), [], []);
        }

        var first = aggregation.Snapshot();
        aggregation.MarkStored(StateSegments.References(first));
        aggregation.Process(new EventBatch<TestEvent>(0, new[] { new TestEvent(1_000_000, 3, Start + (input.Count * 1000), 1) }), Now(input.Count), [], []);
        var second = aggregation.Snapshot();
        Assert.True(second.Length < first.Length / 2, $"the second snapshot carries {second.Length:N0} bytes, the first {first.Length:N0}");
        var stored = StateSegments.Inline(first).Concat(StateSegments.Inline(second)).ToDictionary(s => s.Hash, s => s.Data);
        var lost = StateSegments.References(second).First(h => StateSegments.Inline(second).All(s => s.Hash != h));
        stored.Remove(lost);

        var error = Assert.Throws<InvalidDataException>(() => StateSegments.Resolve(StateSegments.ToManifest(second), h => stored.TryGetValue(h, out var d) ? d : null));
        Assert.Contains($"{lost:x32}", error.Message, StringComparison.Ordinal);

        var damaged = StateSegments.Inline(first).ToDictionary(s => s.Hash, s => s.Data.ToArray());
        damaged[lost][^1] ^= 1;
        var corrupt = Assert.Throws<InvalidDataException>(() => StateSegments.Resolve(StateSegments.ToManifest(second), h => damaged.TryGetValue(h, out var d) ? d : stored[h]));
        Assert.Contains("damaged", corrupt.Message, StringComparison.Ordinal);

        var unresolved = Aggregation("tumbling");
        Assert.Throws<InvalidDataException>(() => unresolved.Restore(second));
    }

    private static void AssertRestoresToTheSameRun(Func<WindowedAggregation<TestEvent, int, long, long>> make, byte[] resolved, List<EventBatch<TestEvent>> next, int from, WindowedAggregation<TestEvent, int, long, long> reference, Dictionary<UInt128, byte[]> store, int seed)
    {
        var restored = make();
        restored.Restore(resolved);
        // Restored segments are the store's: the first snapshot refers to all of them and carries none inline.
        var first = restored.Snapshot();
        Assert.Empty(StateSegments.Inline(first));
        Assert.True(StateSegments.Resolve(first, h => store[h]).AsSpan().SequenceEqual(resolved), $"seed {seed}: a restored state snapshots to other bytes");

        // The reference goes on from the same moment: a copy of it, restored from its own full snapshot. The restored
        // state goes on checkpointing incrementally, and stays what the copy holds.
        var twin = make();
        twin.Restore(reference.Snapshot());
        for (var j = 0; j < next.Count; j++)
        {
            var (a, b) = (new List<WindowResult<int, long>>(), new List<WindowResult<int, long>>());
            restored.Process(next[j], Now(from + j), a, []);
            twin.Process(next[j], Now(from + j), b, []);
            restored.Tick(Now(from + j), a);
            twin.Tick(Now(from + j), b);
            Assert.Equal(b, a);
            if (j % 3 == 2)
            {
                var (mine, theirs) = (restored.Snapshot(), twin.Snapshot());
                foreach (var (hash, data) in StateSegments.Inline(mine).Concat(StateSegments.Inline(theirs)))
                {
                    store[hash] = data.ToArray();
                }

                restored.MarkStored(StateSegments.References(mine));
                Assert.True(StateSegments.Resolve(mine, h => store[h]).AsSpan().SequenceEqual(StateSegments.Resolve(theirs, h => store[h])),
                    $"seed {seed}: a restored state checkpointing on differs from its copy {j + 1} batches later");
            }
        }
    }

    private static readonly long Start = DateTimeOffset.Parse("2026-03-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();

    private static long Now(int batch) => Start + (batch * 1000L) + 60_000;

    private static WindowedAggregation<TestEvent, int, long, long> Aggregation(string windowing, int maxDedupIds = 20_000_000, TimeSpan? dedupHorizon = null)
    {
        var window = windowing switch
        {
            "tumbling" => Windows.Tumbling(TimeSpan.FromSeconds(20)),
            "hopping" => Windows.Hopping(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10)),
            _ => Windows.Session(TimeSpan.FromSeconds(4)),
        };
        var spec = new WindowedAggregationSpec<TestEvent, int>(e => e.TimestampMs, e => e.Key, window, EventId: e => e.IdHash);
        return new WindowedAggregation<TestEvent, int, long, long>(spec, Aggregators.Sum<TestEvent>(e => e.Value), new WindowOptions
        {
            WatermarkDelay = TimeSpan.FromSeconds(2),
            AllowedLateness = TimeSpan.FromSeconds(15),
            MaxDedupIds = maxDedupIds,
            DedupHorizon = dedupHorizon,
        });
    }

    /// <summary>One partition's batches: a second of event time each, keys skewed, some events late or out of order, some sent twice.</summary>
    private static List<EventBatch<TestEvent>> Input(Random random, int batches, int mostPerBatch = 25)
    {
        var input = new List<EventBatch<TestEvent>>();
        var id = 0L;
        var sent = new List<TestEvent>();
        for (var b = 0; b < batches; b++)
        {
            var events = new List<TestEvent>();
            for (var n = random.Next(0, mostPerBatch); n > 0; n--)
            {
                var lag = random.Next(10) switch
                {
                    0 => random.Next(5_000, 40_000), // late, some beyond the allowed lateness
                    1 or 2 => random.Next(0, 3_000),
                    _ => 0,
                };
                var e = sent.Count > 0 && random.Next(12) == 0
                    ? sent[random.Next(sent.Count)] // sent again: a duplicate
                    : new TestEvent(++id, (int)Math.Min(9, Math.Abs(random.NextDouble() * random.NextDouble() * 12)), Start + (b * 1000L) + random.Next(1000) - lag, random.Next(-5, 100));
                events.Add(e);
                sent.Add(e);
            }

            input.Add(new EventBatch<TestEvent>(0, events.ToArray(), NextOffset: b + 1));
        }

        return input;
    }
}
