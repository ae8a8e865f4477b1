namespace StreamEngine.TestOracles;

/// <summary>One row of <c>ads.campaign_minute</c> as the counting rules give it; unique users exact (the engine's are approximate).</summary>
public sealed record ExpectedCampaignMinute(
    long WindowStartMs, string Campaign, long Bids, long Wins, long Impressions, long Clicks, long Conversions, long SpendMicros, long UniqueUsers);

/// <summary>An event judged late, and where it was: the late output names its source partition and offset.</summary>
public sealed record LateRecord(int Partition, long Offset, WireEvent Event);

/// <summary>
/// The counting rules of the contract (docs/architecture.md, "Counting rules"), applied by brute force to the
/// messages of a topic, partition by partition in offset order: refused messages count nowhere; an event whose time
/// is behind its partition's watermark (the largest event time seen before it, less the watermark delay) by more than
/// the allowed lateness is late and counts nowhere; of the rest, an id counts once per partition, the first time it is
/// seen there (the engine's dedup state is per partition: docs/exactly-once.md asks producers to send a retried event
/// with the same key, so it lands where the first one did).
/// <para>
/// The watermark here is the partition's own. The engine's is the smallest of the partitions it holds, which can only
/// be lower, so an event late here could be on time there: a test over traffic whose late events are late by a wide
/// margin (the generator's), or over one partition (the hand-written corpus), sees no difference.
/// </para>
/// </summary>
public sealed class ReferenceCounting(TimeSpan watermarkDelay, TimeSpan allowedLateness, long nowMs)
{
    private readonly long _delayMs = (long)watermarkDelay.TotalMilliseconds;
    private readonly long _latenessMs = (long)allowedLateness.TotalMilliseconds;
    private readonly Dictionary<int, long> _newestByPartition = [];
    private readonly HashSet<(int Partition, string Id)> _ids = [];
    private readonly Dictionary<string, long> _refused = new(StringComparer.Ordinal);
    private readonly List<WireEvent> _counted = [];
    private readonly List<LateRecord> _late = [];

    /// <summary>The contract's defaults: a watermark 10 s behind the newest event, 5 min of allowed lateness.</summary>
    public ReferenceCounting(long nowMs)
        : this(TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5), nowMs)
    {
    }

    /// <summary>Events that count, in the order they were added.</summary>
    public IReadOnlyList<WireEvent> Counted => _counted;

    /// <summary>Events judged late, with where they were in the topic.</summary>
    public IReadOnlyList<LateRecord> Late => _late;

    /// <summary>Refused messages by reason.</summary>
    public IReadOnlyDictionary<string, long> Refused => _refused;

    public long Duplicates { get; private set; }

    /// <summary>Adds the next message of <paramref name="partition"/> (messages of one partition in offset order).</summary>
    public void Add(int partition, long offset, ReadOnlyMemory<byte> value)
    {
        var verdict = ReferenceWireReader.Read(value, nowMs);
        if (verdict.Event is not { } e)
        {
            _refused[verdict.Reason!] = _refused.GetValueOrDefault(verdict.Reason!) + 1;
            return;
        }

        var seenBefore = _newestByPartition.TryGetValue(partition, out var newest);
        if (seenBefore && e.TimestampMs < newest - _delayMs - _latenessMs)
        {
            _late.Add(new LateRecord(partition, offset, e));
            return;
        }

        _newestByPartition[partition] = seenBefore ? Math.Max(newest, e.TimestampMs) : e.TimestampMs;
        if (_ids.Add((partition, e.Id)))
        {
            _counted.Add(e);
        }
        else
        {
            Duplicates++;
        }
    }

    /// <summary>The rows of <c>ads.campaign_minute</c>, ordered by window start, then campaign (ordinal).</summary>
    public IReadOnlyList<ExpectedCampaignMinute> CampaignMinutes() =>
        _counted.GroupBy(e => (e.MinuteStartMs, e.Campaign))
            .Select(g => new ExpectedCampaignMinute(g.Key.MinuteStartMs, g.Key.Campaign,
                g.Count(e => e.Type == "bid"), g.Count(e => e.Type == "win"), g.Count(e => e.Type == "impression"), g.Count(e => e.Type == "click"),
                g.Count(e => e.Type == "conversion"), g.Sum(e => e.SpendMicros), g.Select(e => e.User).OfType<string>().Distinct(StringComparer.Ordinal).Count()))
            .OrderBy(r => r.WindowStartMs).ThenBy(r => r.Campaign, StringComparer.Ordinal)
            .ToList();
}
