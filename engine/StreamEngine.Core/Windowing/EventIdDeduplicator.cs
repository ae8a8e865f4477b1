namespace StreamEngine.Core.Windowing;

/// <summary>
/// Drops repeated event ids within a horizon of event time. Ids are kept in buckets of event time and a bucket is
/// forgotten once the watermark is a horizon past it, so memory follows the ids within the horizon; a hard cap
/// (<see cref="MaxIds"/>) bounds it whatever the traffic, forgetting the oldest bucket early (counted) when hit.
/// A duplicate is the same event sent again: same id and same event time (so it lands in the same bucket).
/// Memory: about 26 bytes per remembered id (<see cref="EventIdSet"/>), so the default cap of 20 million ids is about 500 MiB.
/// </summary>
public sealed class EventIdDeduplicator
{
    private readonly SortedDictionary<long, EventIdSet> _buckets = [];
    private readonly Stack<EventIdSet> _spare = new(); // forgotten buckets keep their capacity for reuse
    private readonly long _bucketMs;
    private long _lastChanged = long.MinValue;

    /// <summary>Remembers ids for <paramref name="horizon"/> of event time, at most <paramref name="maxIds"/> of them.</summary>
    public EventIdDeduplicator(TimeSpan horizon, int maxIds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(horizon, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIds, 1);
        HorizonMs = (long)horizon.TotalMilliseconds;
        MaxIds = maxIds;
        _bucketMs = Math.Max(1000, HorizonMs / 8);
    }

    /// <summary>How long an id is remembered, in event-time milliseconds.</summary>
    public long HorizonMs { get; }

    /// <summary>The most ids remembered at once (the oldest go first beyond it, counted).</summary>
    public int MaxIds { get; }

    /// <summary>Ids currently remembered.</summary>
    public long TrackedIds { get; private set; }

    /// <summary>Buckets forgotten before their time because <see cref="MaxIds"/> was reached.</summary>
    public long EarlyEvictions { get; private set; }

    /// <summary>Approximate heap bytes the remembered ids take: 26 per id as measured (`StreamEngine.Benchmarks state-memory`).</summary>
    public long ApproximateBytes => TrackedIds * 26;

    /// <summary>Remembers the id; false when it was already seen (a duplicate).</summary>
    public bool TryAdd(UInt128 id, long timestampMs)
    {
        var bucket = WindowSpec.FloorTo(timestampMs, _bucketMs);
        if (!_buckets.TryGetValue(bucket, out var ids))
        {
            _buckets[bucket] = ids = _spare.Count > 0 ? _spare.Pop() : new EventIdSet();
        }

        if (!ids.Add(id))
        {
            return false;
        }

        if (bucket != _lastChanged)
        {
            // Most ids land in the newest bucket: one set operation per bucket between snapshots, not per id.
            ChangedBuckets.Add(bucket);
            _lastChanged = bucket;
        }

        if (++TrackedIds > MaxIds)
        {
            Forget(_buckets.First());
            EarlyEvictions++;
        }

        return true;
    }

    /// <summary>Forgets buckets that lie entirely more than a horizon behind the watermark.</summary>
    public void Evict(long watermarkMs)
    {
        if (watermarkMs == long.MinValue)
        {
            return;
        }

        while (_buckets.Count > 0)
        {
            var oldest = _buckets.First();
            if (oldest.Key + _bucketMs > watermarkMs - HorizonMs)
            {
                return;
            }

            Forget(oldest);
        }
    }

    private void Forget(KeyValuePair<long, EventIdSet> bucket)
    {
        ForgottenBuckets.Add(bucket.Key);
        TrackedIds -= bucket.Value.Count;
        _buckets.Remove(bucket.Key);
        bucket.Value.Clear();
        _spare.Push(bucket.Value);
    }

    /// <summary>The buckets with ids added since <see cref="ClearChanged"/>: the state segments a snapshot writes again.</summary>
    internal HashSet<long> ChangedBuckets { get; } = [];

    /// <summary>The buckets of remembered ids, oldest first (a snapshot writes one segment per bucket).</summary>
    internal SortedDictionary<long, EventIdSet> Buckets => _buckets;

    /// <summary>The buckets forgotten since <see cref="ClearChanged"/>: one made again under the same key holds other ids.</summary>
    internal HashSet<long> ForgottenBuckets { get; } = [];

    internal void ClearChanged()
    {
        ChangedBuckets.Clear();
        ForgottenBuckets.Clear();
        _lastChanged = long.MinValue;
    }

    /// <summary>Writes some of a bucket's ids (a part of it, in the order they came), counted.</summary>
    internal static void WriteIds(BinaryWriter writer, ReadOnlySpan<UInt128> ids)
    {
        writer.Write(ids.Length);
        foreach (var id in ids)
        {
            writer.Write((ulong)(id >> 64));
            writer.Write((ulong)id);
        }
    }

    /// <summary>Adds one part of a bucket's ids (see <see cref="WriteIds"/>) to the bucket; returns how many it held.</summary>
    internal int ReadBucket(BinaryReader reader, long bucket)
    {
        var count = reader.ReadInt32();
        if (!_buckets.TryGetValue(bucket, out var ids))
        {
            _buckets[bucket] = ids = new EventIdSet();
        }

        var before = ids.Count;
        for (var i = 0; i < count; i++)
        {
            var high = reader.ReadUInt64();
            ids.Add(new UInt128(high, reader.ReadUInt64()));
        }

        TrackedIds += ids.Count - before;
        return count;
    }

    /// <summary>Restores the count of early evictions (a segmented snapshot's header keeps it).</summary>
    internal void RestoreEarlyEvictions(long earlyEvictions) => EarlyEvictions = earlyEvictions;

    /// <summary>Restores the whole set from a snapshot of format 1 or 2 (one block of every bucket).</summary>
    internal void Read(BinaryReader reader)
    {
        _buckets.Clear();
        TrackedIds = 0;
        var buckets = reader.ReadInt32();
        for (var b = 0; b < buckets; b++)
        {
            ReadBucket(reader, bucket: reader.ReadInt64()); // each block is a bucket's key, then its ids as a part holds them
        }

        EarlyEvictions = reader.ReadInt64();
    }
}
