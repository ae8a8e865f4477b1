using StreamEngine.Core.Sketches;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Core.Tests;

/// <summary>Sketch error bounds on known distributions, and merging equal to the union.</summary>
public sealed class SketchTests
{
    [Theory]
    [InlineData(100)]
    [InlineData(10_000)]
    [InlineData(100_000)]
    [InlineData(1_000_000)]
    public void HyperLogLog_is_within_two_percent(int distinct)
    {
        var sketch = new HyperLogLog();
        for (var i = 0; i < distinct; i++)
        {
            sketch.Add(Hashing.Mix((ulong)i));
            sketch.Add(Hashing.Mix((ulong)i)); // repeats do not count
        }

        var error = Math.Abs(sketch.Estimate() - distinct) / (double)distinct;
        Assert.True(error <= 0.02, $"estimate {sketch.Estimate()} for {distinct} distinct is off by {error:P2}");
    }

    [Fact]
    public void HyperLogLog_partials_merge_into_the_sketch_of_the_union_and_survive_serialization()
    {
        var whole = new HyperLogLog();
        var left = new HyperLogLog();
        var right = new HyperLogLog();
        for (var i = 0; i < 300_000; i++)
        {
            var hash = Hashing.Mix((ulong)i);
            whole.Add(hash);
            (i % 3 == 0 ? left : right).Add(hash);
            if (i % 5 == 0)
            {
                left.Add(hash); // overlap between the partials
            }
        }

        var small = new HyperLogLog();
        small.Add(Hashing.Mix(1));
        left.Merge(right);
        left.Merge(small);

        Assert.Equal(whole.Estimate(), left.Estimate());
        Assert.Equal(whole.Estimate(), RoundTrip(whole, s => s.Write, HyperLogLog.Read).Estimate());
        Assert.Equal(small.Estimate(), RoundTrip(small, s => s.Write, HyperLogLog.Read).Estimate());
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 40)]
    [InlineData(3, 1000)]
    [InlineData(4, 1100)] // past 1,024 registers: dense
    [InlineData(5, 5000)]
    public void HyperLogLog_keeps_the_highest_rank_of_each_register_sparse_or_dense(int seed, int values)
    {
        var random = new Random(seed);
        var sketch = new HyperLogLog();
        var registers = new byte[1 << 14];
        var hashes = Enumerable.Range(0, values).Select(_ => (ulong)random.NextInt64() ^ ((ulong)random.Next() << 63)).ToList();
        foreach (var hash in hashes.Concat(hashes.OrderBy(_ => random.Next()).Take(values / 2))) // and repeats, in another order
        {
            sketch.Add(hash);
            var index = (int)(hash >> 50);
            registers[index] = Math.Max(registers[index], (byte)(System.Numerics.BitOperations.LeadingZeroCount((hash << 14) | (1UL << 13)) + 1));
        }

        using var reader = new BinaryReader(new MemoryStream(RoundTripBytes(sketch)));
        var used = registers.Count(r => r != 0);
        if (reader.ReadByte() == 1)
        {
            Assert.True(used > 1024);
            Assert.Equal(registers, reader.ReadBytes(1 << 14));
            return;
        }

        Assert.True(used <= 1024);
        var sparse = Enumerable.Range(0, reader.ReadInt32()).Select(_ => (Index: (int)reader.ReadUInt16(), Rank: reader.ReadByte())).ToList();
        Assert.Equal(registers.Select((rank, index) => (Index: index, Rank: rank)).Where(r => r.Rank != 0), sparse); // ascending by register
    }

    [Fact]
    public void A_sparse_HyperLogLog_snapshot_in_the_order_registers_were_set_reads_as_the_sorted_one()
    {
        static byte[] Sparse(IEnumerable<(ushort Index, byte Rank)> registers)
        {
            using var buffer = new MemoryStream();
            using var writer = new BinaryWriter(buffer);
            var list = registers.ToList();
            writer.Write((byte)0);
            writer.Write(list.Count);
            foreach (var (index, rank) in list)
            {
                writer.Write(index);
                writer.Write(rank);
            }

            writer.Flush();
            return buffer.ToArray();
        }

        (ushort, byte)[] registers = [(9000, 3), (12, 1), (16383, 7), (500, 2)]; // as an older engine wrote them
        var read = HyperLogLog.Read(new BinaryReader(new MemoryStream(Sparse(registers))));
        Assert.Equal(Sparse(registers.OrderBy(r => r.Item1)), RoundTripBytes(read));
        Assert.Throws<InvalidDataException>(() => HyperLogLog.Read(new BinaryReader(new MemoryStream(Sparse([(16384, 1)])))));
    }

    private static byte[] RoundTripBytes(HyperLogLog sketch)
    {
        using var buffer = new MemoryStream();
        using var writer = new BinaryWriter(buffer);
        sketch.Write(writer);
        writer.Flush();
        return buffer.ToArray();
    }

    public static TheoryData<string> Distributions() => new() { "uniform", "lognormal", "exponential", "with-zeros" };

    [Theory]
    [MemberData(nameof(Distributions))]
    public void Quantiles_are_within_one_percent_relative_error(string distribution)
    {
        var random = new Random(42);
        var values = Enumerable.Range(0, 200_000).Select(_ => Sample(distribution, random)).ToArray();
        var sketch = new QuantileSketch(0.01);
        foreach (var value in values)
        {
            sketch.Add(value);
        }

        Array.Sort(values);
        foreach (var q in new[] { 0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0 })
        {
            var exact = values[(long)Math.Floor(q * (values.Length - 1))];
            var estimate = sketch.Quantile(q);
            Assert.True(Math.Abs(estimate - exact) <= 0.01 * exact + 1e-9, $"{distribution} q{q}: estimate {estimate}, exact {exact}");
        }
    }

    [Fact]
    public void Quantile_partials_merge_exactly_and_survive_serialization()
    {
        var random = new Random(7);
        var whole = new QuantileSketch();
        var parts = Enumerable.Range(0, 4).Select(_ => new QuantileSketch()).ToArray();
        for (var i = 0; i < 100_000; i++)
        {
            var value = Sample("lognormal", random);
            whole.Add(value);
            parts[i % 4].Add(value);
        }

        var merged = new QuantileSketch();
        foreach (var part in parts)
        {
            merged.Merge(RoundTrip(part, s => s.Write, QuantileSketch.Read));
        }

        Assert.Equal(whole.Buckets(), merged.Buckets());
        Assert.Equal(whole.Count, merged.Count);
        Assert.Equal(whole.Quantile(0.99), merged.Quantile(0.99));
    }

    [Fact]
    public void The_compact_form_of_a_quantile_sketch_reads_back_the_same_buckets_in_fewer_bytes()
    {
        var random = new Random(11);
        foreach (var values in new[] { 0, 1, 40, 100_000 })
        {
            var sketch = new QuantileSketch();
            sketch.Add(0, values % 3);
            for (var i = 0; i < values; i++)
            {
                sketch.Add(i % 5 == 0 ? random.NextDouble() : Sample("lognormal", random)); // a fifth below 1: negative buckets
            }

            var compact = RoundTrip(sketch, s => s.WriteCompact, QuantileSketch.ReadCompact);
            Assert.Equal(sketch.Buckets(), compact.Buckets());
            Assert.Equal((sketch.Count, sketch.ZeroCount, sketch.RelativeAccuracy), (compact.Count, compact.ZeroCount, compact.RelativeAccuracy));
            Assert.Equal(sketch.Quantile(0.5), compact.Quantile(0.5));
            if (values == 40)
            {
                Assert.True(Length(sketch.WriteCompact) * 3 < Length(sketch.Write), $"compact {Length(sketch.WriteCompact)} bytes, fixed {Length(sketch.Write)}");
            }
        }

        static long Length(Action<BinaryWriter> write)
        {
            using var buffer = new MemoryStream();
            using var writer = new BinaryWriter(buffer);
            write(writer);
            writer.Flush();
            return buffer.Length;
        }
    }

    [Fact]
    public void TopK_finds_the_heavy_hitters_of_a_skewed_stream_and_merges_partials()
    {
        var random = new Random(3);
        var exact = new Dictionary<int, long>();
        var parts = new[] { new TopK<int>(64), new TopK<int>(64) };
        for (var i = 0; i < 200_000; i++)
        {
            var item = Zipf(random, 5_000);
            exact[item] = exact.GetValueOrDefault(item) + 1;
            parts[i % 2].Add(item);
        }

        parts[0].Merge(parts[1]);
        var expected = exact.OrderByDescending(e => e.Value).Take(5).Select(e => e.Key).ToList();
        var top = parts[0].Top(5);

        Assert.Equal(expected, top.Select(t => t.Item));
        Assert.All(top, t => Assert.InRange(t.Count - exact[t.Item], 0, t.Error));
        Assert.Equal(200_000, parts[0].Total);
    }

    [Fact]
    public void TopSelection_returns_the_k_largest_counts_largest_first()
    {
        var random = new Random(9);
        var counts = Enumerable.Range(0, 1000).Select(i => (Item: i, Count: (long)random.Next(0, 1_000_000))).ToList();
        var selection = new TopSelection<int>(10);
        foreach (var (item, count) in counts)
        {
            selection.Offer(item, count);
        }

        Assert.Equal(counts.OrderByDescending(c => c.Count).Take(10).Select(c => (c.Item, c.Count)), selection.TakeLargestFirst());
        Assert.Empty(selection.TakeLargestFirst());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void The_dedup_id_set_holds_what_a_hash_set_holds_and_keeps_the_order_they_came_in(int seed)
    {
        var random = new Random(seed);
        var set = new EventIdSet();
        var model = new HashSet<UInt128>();
        var order = new List<UInt128>();
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < 20_000; i++)
            {
                // Repeats, ids alike in one half (as hostile input would make them), and random ones.
                UInt128 id = random.Next(4) switch
                {
                    0 when order.Count > 0 => order[random.Next(order.Count)],
                    1 => new UInt128((ulong)random.Next(64), (ulong)random.Next(64)),
                    2 => new UInt128(7, (ulong)i),
                    _ => new UInt128((ulong)random.NextInt64(), (ulong)random.NextInt64()),
                };
                var added = model.Add(id);
                Assert.Equal(added, set.Add(id));
                if (added)
                {
                    order.Add(id);
                }
            }

            Assert.Equal(model.Count, set.Count);
            var parts = Enumerable.Range(0, set.PartCount).Select(p => set.Part(p).ToArray()).ToList();
            Assert.All(parts.SkipLast(1), p => Assert.Equal(EventIdSet.IdsPerPart, p.Length));
            Assert.Equal(order, parts.SelectMany(p => p));

            set.Clear(); // a forgotten bucket's set is reused: nothing of it may be found again
            model.Clear();
            order.Clear();
            Assert.Equal(0, set.Count);
            Assert.Equal(0, set.PartCount);
        }
    }

    [Fact]
    public void Dedup_ids_of_a_whole_snapshot_of_format_1_or_2_read_back_bucket_by_bucket()
    {
        var first = Scripts.Start - Scripts.Start % 60_000; // bucket keys: starts of 60 s, an eighth of the horizon
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(2); // buckets, each its key then its ids as a state segment's part holds them
            writer.Write(first);
            EventIdDeduplicator.WriteIds(writer, [1, 2, 3]);
            writer.Write(first + 60_000);
            EventIdDeduplicator.WriteIds(writer, [4]);
            writer.Write(7L); // early evictions
        }

        var dedup = new EventIdDeduplicator(TimeSpan.FromMinutes(8), maxIds: 1000);
        dedup.Read(new BinaryReader(new MemoryStream(buffer.ToArray())));

        Assert.Equal(4, dedup.TrackedIds);
        Assert.Equal(7, dedup.EarlyEvictions);
        Assert.Equal([first, first + 60_000], dedup.Buckets.Keys);
        Assert.Equal([1, 2, 3], dedup.Buckets[first].Part(0).ToArray());
        Assert.False(dedup.TryAdd(4, first + 60_000));
        Assert.True(dedup.TryAdd(4, first));
    }

    [Fact]
    public void The_dedup_memory_cap_forgets_the_oldest_ids_first_and_counts_it()
    {
        var dedup = new EventIdDeduplicator(TimeSpan.FromMinutes(8), maxIds: 1000);
        for (var i = 0; i < 1500; i++)
        {
            Assert.True(dedup.TryAdd((UInt128)i, Scripts.Start + i * 1000L));
        }

        Assert.True(dedup.TrackedIds <= 1000);
        Assert.True(dedup.EarlyEvictions > 0);
        Assert.False(dedup.TryAdd(1499, Scripts.Start + 1499 * 1000L));
        Assert.True(dedup.TryAdd(0, Scripts.Start)); // forgotten early: a repeat of it is no longer caught
    }

    [Fact]
    public void Dedup_forgets_ids_a_horizon_behind_the_watermark()
    {
        var dedup = new EventIdDeduplicator(TimeSpan.FromMinutes(1), maxIds: 1_000_000);
        for (var i = 0; i < 120; i++)
        {
            dedup.TryAdd((UInt128)i, Scripts.Start + i * 1000L);
        }

        dedup.Evict(Scripts.Start + 120_000);

        Assert.InRange(dedup.TrackedIds, 60, 70);
        Assert.False(dedup.TryAdd(119, Scripts.Start + 119_000));
    }

    private static double Sample(string distribution, Random random) => distribution switch
    {
        "uniform" => 1 + random.NextDouble() * 10_000,
        "lognormal" => Math.Exp(7 + 1.2 * Gaussian(random)),
        "exponential" => -Math.Log(1 - random.NextDouble()) * 500 + 0.001,
        _ => random.NextDouble() < 0.3 ? 0 : 1 + random.NextDouble() * 100,
    };

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static int Zipf(Random random, int n) => (int)Math.Min(n - 1, Math.Floor(Math.Pow(n, random.NextDouble())) - 1);

    private static T RoundTrip<T>(T value, Func<T, Action<BinaryWriter>> write, Func<BinaryReader, T> read)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            write(value)(writer);
        }

        buffer.Position = 0;
        using var reader = new BinaryReader(buffer);
        return read(reader);
    }
}
