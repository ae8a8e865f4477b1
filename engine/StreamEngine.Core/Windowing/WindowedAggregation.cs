using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;

namespace StreamEngine.Core.Windowing;

/// <summary>The parts of a keyed, windowed aggregation that the DSL collects.</summary>
public sealed record WindowedAggregationSpec<TEvent, TKey>(
    Func<TEvent, long> EventTime,
    Func<TEvent, TKey> Key,
    WindowSpec Window,
    Func<TEvent, bool>? Filter = null,
    Func<TEvent, UInt128>? EventId = null)
    where TKey : notnull;

/// <summary>
/// The engine of a keyed, event-time windowed aggregation, fused into one per-event loop: filter, lateness,
/// dedup, watermark, window assignment, incremental aggregation, closing and purging. Single-threaded and free of
/// Rx so it can be driven and tested directly; <see cref="Dsl.StreamExtensions"/> runs it on an observable.
/// </summary>
/// <remarks>
/// Rules (DESIGN.md, "Counting rules"): an event is late when its time is behind the watermark minus the allowed
/// lateness, judged before the event itself moves the watermark; it goes to the late output and into nothing else.
/// A window closes (final result) when the watermark reaches its end and is forgotten when the watermark reaches
/// end + allowed lateness, so every event that is not late still finds its windows. Results do not depend on how
/// the input is cut into batches.
/// </remarks>
public sealed class WindowedAggregation<TEvent, TKey, TAccumulator, TResult>
    where TKey : notnull
{
    private readonly WindowedAggregationSpec<TEvent, TKey> _spec;
    private readonly IAggregator<TEvent, TAccumulator, TResult> _aggregator;
    private readonly WindowSpec _window;
    private readonly long _latenessMs;
    private readonly WatermarkTracker _watermarks;
    private readonly EventIdDeduplicator? _dedup;
    private readonly Dictionary<(TKey Key, long Start), Slot> _windows = [];
    private readonly Dictionary<TKey, List<Slot>> _sessions = [];
    private readonly EndTimeQueue<Slot> _closing = new();   // open windows, due when the watermark reaches their end
    private readonly EndTimeQueue<Slot> _expiring = new();  // closed windows, due at end + allowed lateness
    private readonly Stack<Slot> _recycled = new();         // forgotten windows, reused so steady state allocates nothing
    private readonly Action<Slot, int, long> _closeDue;
    private readonly Action<Slot, int, long> _expireDue;
    private List<WindowResult<TKey, TResult>>? _emitInto;
    private readonly List<Slot> _dirty = [];
    private readonly List<Slot> _overlapping = [];
    private readonly Dictionary<(byte Kind, long Bucket, int Part), SegmentMark> _segments = [];
    private readonly HashSet<long> _changedWindowSegments = [];
    private readonly long _segmentMs;
    private long _lastChangedWindowSegment = long.MinValue;
    private long _sequence;
    private long _eventsIn;
    private long _filtered;
    private long _duplicates;
    private long _late;
    private long _aggregated;
    private int _liveWindows;

    /// <summary>An aggregation of <paramref name="spec"/>'s windows by <paramref name="aggregator"/>.</summary>
    public WindowedAggregation(WindowedAggregationSpec<TEvent, TKey> spec, IAggregator<TEvent, TAccumulator, TResult> aggregator, WindowOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(aggregator);
        Options = options ?? new WindowOptions();
        Options.Validate(spec.Window);
        _spec = spec;
        _aggregator = aggregator;
        _window = spec.Window;
        _latenessMs = (long)Options.AllowedLateness.TotalMilliseconds;
        _watermarks = new WatermarkTracker(Options.WatermarkDelay, Options.IdleTimeout);
        _segmentMs = Math.Max(1000, _window.ExtentMs);
        _closeDue = CloseDue;
        _expireDue = ExpireDue;
        if (spec.EventId is not null)
        {
            var horizon = Options.DedupHorizon ?? TimeSpan.FromMilliseconds(_window.ExtentMs) + Options.AllowedLateness;
            _dedup = new EventIdDeduplicator(horizon, Options.MaxDedupIds);
        }
    }

    /// <summary>The window options it runs with.</summary>
    public WindowOptions Options { get; }

    /// <summary>The source partition this state belongs to, stamped on its results; -1 (the default) when it spans all.</summary>
    public int Partition { get; init; } = -1;

    /// <summary>The current watermark, epoch milliseconds.</summary>
    public long WatermarkMs => _watermarks.Current;

    /// <summary>The newest event time seen (epoch ms), <see cref="long.MinValue"/> before the first event: how fresh the state is.</summary>
    public long NewestEventTimeMs => _watermarks.Partitions().Select(p => p.MaxTimestampMs).DefaultIfEmpty(long.MinValue).Max();

    /// <summary>Its running totals.</summary>
    public WindowCounters Counters => new(_eventsIn, _filtered, _duplicates, _late, _aggregated, _liveWindows,
        _dedup?.TrackedIds ?? 0, _dedup?.EarlyEvictions ?? 0, _watermarks.Current);

    /// <summary>
    /// Processes one batch at processing time <paramref name="nowMs"/>, adding what it emits to the lists, and, when
    /// <paramref name="accepted"/> is given, the events that went into windows (not filtered, late or duplicate).
    /// </summary>
    public void Process(in EventBatch<TEvent> batch, long nowMs, List<WindowResult<TKey, TResult>> results, List<LateEvent<TEvent>> late, List<TEvent>? accepted = null)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(late);
        var partition = batch.Partition;
        switch (batch.Kind)
        {
            case EventBatchKind.PartitionRevoked or EventBatchKind.PartitionLost:
                RemovePartition(partition, results);
                return;
            case EventBatchKind.EndOfPartition:
                _watermarks.MarkEndReached(partition, nowMs);
                return;
        }

        // An assignment makes the partition known, so it holds event time back before its first event.
        var progress = _watermarks.Activate(partition);
        var filter = _spec.Filter;
        foreach (ref readonly var item in batch.Events.Span)
        {
            _eventsIn++;
            var timestamp = _spec.EventTime(item);
            if (filter is not null && !filter(item))
            {
                // Filtered events still tell how far the partition's event time has come.
                _filtered++;
                if (_watermarks.Observe(progress, timestamp))
                {
                    OnWatermarkAdvanced(results);
                }

                continue;
            }

            var watermark = _watermarks.Current;
            if (watermark != long.MinValue && timestamp < watermark - _latenessMs)
            {
                _late++;
                late.Add(new LateEvent<TEvent>(item, partition, watermark, "event time is behind the watermark by more than the allowed lateness"));
                continue;
            }

            if (_dedup is not null && !_dedup.TryAdd(_spec.EventId!(item), timestamp))
            {
                _duplicates++;
            }
            else
            {
                _aggregated++;
                Assign(item, timestamp, results);
                accepted?.Add(item);
            }

            if (_watermarks.Observe(progress, timestamp))
            {
                OnWatermarkAdvanced(results);
            }
        }
    }

    /// <summary>
    /// A processing-time tick: partitions read to their end and quiet for the idle timeout stop holding the watermark
    /// back, and windows changed since the last tick are emitted (early updates for open ones, late updates for
    /// closed ones). The wall clock decides when updates go out, never what they hold.
    /// </summary>
    /// <param name="nowMs">Processing time, epoch ms.</param>
    /// <param name="results">Where emitted results go.</param>
    /// <param name="emitUpdates">False: only idleness and the windows it closes; changed windows stay pending for a later tick.</param>
    public void Tick(long nowMs, List<WindowResult<TKey, TResult>> results, bool emitUpdates = true)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (_watermarks.Refresh(nowMs))
        {
            OnWatermarkAdvanced(results);
        }

        if (emitUpdates)
        {
            EmitDirty(results);
        }
    }

    /// <summary>A partition left this process: it no longer holds the watermark back.</summary>
    public void RemovePartition(int partition, List<WindowResult<TKey, TResult>> results)
    {
        _watermarks.Remove(partition);
        OnWatermarkAdvanced(results);
    }

    /// <summary>End of input: every window closes and is emitted as final, then state is cleared.</summary>
    public void Drain(List<WindowResult<TKey, TResult>> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        _watermarks.AdvanceTo(long.MaxValue);
        OnWatermarkAdvanced(results);
    }

    /// <summary>
    /// Everything needed to continue exactly where this left off: watermarks, dedup ids, windows, in segments
    /// (<see cref="StateSegments"/>): the dedup ids of each bucket of event time, and the windows starting in each
    /// stretch of a window's extent. A segment unchanged since a snapshot that <see cref="MarkStored"/> confirmed goes
    /// in as its hash alone, so a checkpoint writes what changed (the newest windows and ids), not the whole state.
    /// </summary>
    public byte[] Snapshot(KeyCodec<TKey>? keyCodec = null)
    {
        keyCodec ??= KeyCodecs.Default<TKey>();
        // One buffer per thread, reused: grown afresh each time, a snapshot of a few MiB doubled its way up through
        // the large object heap, for every changed partition at every checkpoint.
        var buffer = _threadSnapshotBuffer ??= new MemoryStream();
        buffer.SetLength(0);
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(StateSegments.Format);
            writer.Write(0); // the header's length, set below
            writer.Write(_window.ToString());
            writer.Write(_watermarks.Current);
            var partitions = _watermarks.Partitions().ToList();
            writer.Write(partitions.Count);
            foreach (var (partition, max, endReachedAt, idle) in partitions)
            {
                writer.Write(partition);
                writer.Write(max);
                writer.Write(endReachedAt ?? long.MinValue);
                writer.Write(idle);
            }

            writer.Write(_dedup is not null);
            writer.Write(_dedup?.EarlyEvictions ?? 0);
            writer.Write(_eventsIn);
            writer.Write(_filtered);
            writer.Write(_duplicates);
            writer.Write(_late);
            writer.Write(_aggregated);
            writer.Write(_sequence);
            writer.Flush();
            PatchInt32(buffer, 4, checked((int)buffer.Length - 8));

            var countAt = buffer.Length;
            writer.Write(0); // the segment count, set below
            var count = 0;
            var seen = new HashSet<(byte, long, int)>();
            if (_dedup is not null)
            {
                // A bucket's ids in parts of EventIdSet.IdsPerPart, in the order they came: ids are only ever added to
                // a bucket (it is forgotten whole), so a full part never changes and only the last one is written again.
                foreach (var (bucket, ids) in _dedup.Buckets)
                {
                    var changed = _dedup.ChangedBuckets.Contains(bucket);
                    var madeAgain = _dedup.ForgottenBuckets.Contains(bucket); // no part of it is what it was
                    for (var part = 0; part < ids.PartCount; part++)
                    {
                        WriteIdPart(writer, bucket, part, ids, changed, madeAgain, seen);
                        count++;
                    }
                }

                _dedup.ClearChanged();
            }

            // The windows of each stretch, in the order they were opened (the order a restore keeps).
            foreach (var group in AllSlots().GroupBy(SegmentOf).OrderBy(g => g.Key))
            {
                seen.Add((WindowSegment, group.Key, 0));
                WriteSegment(writer, (WindowSegment, group.Key, 0), _changedWindowSegments.Contains(group.Key), count: 0, w =>
                {
                    var slots = group.OrderBy(s => s.Sequence).ToList();
                    w.Write(WindowSegment);
                    w.Write(group.Key);
                    w.Write(slots.Count);
                    foreach (var slot in slots)
                    {
                        keyCodec.Write(w, slot.Key);
                        w.Write(slot.Start);
                        w.Write(slot.End);
                        w.Write(slot.Sequence);
                        w.Write(slot.Version);
                        w.Write(slot.EmittedVersion);
                        w.Write(slot.Closed);
                        w.Write(slot.FinalEmitted);
                        w.Write(slot.Dirty);
                        _aggregator.Write(w, slot.Accumulator);
                    }
                });
                count++;
            }

            _changedWindowSegments.Clear();
            _lastChangedWindowSegment = long.MinValue;
            foreach (var gone in _segments.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                _segments.Remove(gone);
            }

            writer.Flush();
            PatchInt32(buffer, countAt, count);
            SnapshotBytes = countAt + 4 + ((long)StateSegments.HeadBytes * count) + _segments.Values.Sum(s => (long)s.Length);
        }

        var snapshot = buffer.ToArray();
        if (buffer.Capacity > MaxRetainedSnapshotBuffer)
        {
            _threadSnapshotBuffer = null; // an outsized state does not pin its buffer on this thread for good
        }

        return snapshot;
    }

    /// <summary>
    /// Says the segments with these hashes are stored (a checkpoint holding them was saved): later snapshots refer
    /// to them by hash while they stay unchanged. Only for this aggregation's own snapshots of the same assignment.
    /// </summary>
    internal void MarkStored(IReadOnlyCollection<UInt128> hashes)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        var stored = hashes as IReadOnlySet<UInt128> ?? hashes.ToHashSet();
        foreach (var mark in _segments.Values)
        {
            mark.Stored |= stored.Contains(mark.Hash);
        }
    }

    /// <summary>
    /// Writes one segment: its hash alone when it is unchanged and stored, else its bytes (and remembers their hash;
    /// bytes equal to a stored segment's stay stored).
    /// </summary>
    private void WriteSegment(BinaryWriter writer, (byte Kind, long Bucket, int Part) key, bool changed, int count, Action<BinaryWriter> write)
    {
        if (!changed && _segments.TryGetValue(key, out var known) && known.Stored)
        {
            Span<byte> reference = stackalloc byte[StateSegments.HeadBytes];
            StateSegments.WriteHead(reference, known.Hash, length: null);
            writer.Write(reference);
            return;
        }

        writer.Flush();
        var buffer = (MemoryStream)writer.BaseStream;
        var headAt = (int)buffer.Length;
        writer.Write(new byte[StateSegments.HeadBytes]); // the head, once the bytes (and so the hash) are known
        write(writer);
        writer.Flush();
        var length = (int)buffer.Length - headAt - StateSegments.HeadBytes;
        var hash = StateSegments.HashOf(buffer.GetBuffer().AsSpan(headAt + StateSegments.HeadBytes, length));
        StateSegments.WriteHead(buffer.GetBuffer().AsSpan(headAt), hash, length);
        if (_segments.TryGetValue(key, out var mark))
        {
            mark.Stored &= mark.Hash == hash;
            (mark.Hash, mark.Length, mark.Count) = (hash, length, count);
        }
        else
        {
            _segments[key] = new SegmentMark { Hash = hash, Length = length, Count = count };
        }
    }

    /// <summary>One part of a dedup bucket's ids.</summary>
    private void WriteIdPart(BinaryWriter writer, long bucket, int part, EventIdSet ids, bool bucketChanged, bool madeAgain, HashSet<(byte, long, int)> seen)
    {
        var filled = ids.Part(part).Length;
        var key = (IdSegment, bucket, part);
        seen.Add(key);
        // A part that was full when written is what it was: ids only ever go to a bucket's last part (unless the
        // bucket was forgotten and made again since).
        var changed = madeAgain || (bucketChanged && !(_segments.TryGetValue(key, out var known) && known.Count == EventIdSet.IdsPerPart && filled == EventIdSet.IdsPerPart));
        WriteSegment(writer, key, changed, filled, w =>
        {
            w.Write(IdSegment);
            w.Write(bucket);
            w.Write(part);
            EventIdDeduplicator.WriteIds(w, ids.Part(part));
        });
    }

    private static void PatchInt32(MemoryStream buffer, long at, int value) =>
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(buffer.GetBuffer().AsSpan((int)at), value);

    /// <summary>The segment a window's state is kept in: the stretch of one window extent its start falls in.</summary>
    private long SegmentOf(Slot slot) => WindowSpec.FloorTo(slot.Start, _segmentMs);

    /// <summary>The window's segment has changed since the last snapshot (it must be written again).</summary>
    private void Changed(Slot slot)
    {
        var segment = SegmentOf(slot);
        if (segment != _lastChangedWindowSegment)
        {
            // Events mostly touch the newest windows: one set operation per segment between snapshots, not per event.
            _changedWindowSegments.Add(segment);
            _lastChangedWindowSegment = segment;
        }
    }

    private const byte IdSegment = 0;
    private const byte WindowSegment = 1;

    /// <summary>What the last snapshot wrote of a segment: its hash, and whether a stored checkpoint holds it.</summary>
    private sealed class SegmentMark
    {
        public UInt128 Hash;
        public bool Stored;
        public int Length;
        public int Count; // ids in a dedup part (a full one never changes)
    }

    /// <summary>The size of the whole state at the last <see cref="Snapshot"/>, segments referred to by hash included.</summary>
    internal long SnapshotBytes { get; private set; }

    /// <summary>The largest snapshot buffer a thread keeps for the next snapshot.</summary>
    private const int MaxRetainedSnapshotBuffer = 16 << 20;

    [ThreadStatic]
    private static MemoryStream? _threadSnapshotBuffer;

    /// <summary>Replaces this (fresh) operator's state with a snapshot; its partitions count as active (not known to be at their end).</summary>
    public void Restore(byte[] snapshot, KeyCodec<TKey>? keyCodec = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (_eventsIn != 0 || AllSlots().Any())
        {
            throw new InvalidOperationException("restore into a fresh operator only");
        }

        keyCodec ??= KeyCodecs.Default<TKey>();
        if (StateSegments.IsSegmented(snapshot))
        {
            RestoreSegmented(snapshot, keyCodec);
            return;
        }

        using var reader = new BinaryReader(new MemoryStream(snapshot));
        var format = reader.ReadInt32();
        if (format is not (SnapshotFormat or SnapshotFormatWithoutEnds))
        {
            throw new InvalidDataException("the snapshot was written by another version of the windowed aggregation");
        }

        var partitions = ReadWindowAndWatermark(reader);
        for (var i = 0; i < partitions; i++)
        {
            var (partition, max) = (reader.ReadInt32(), reader.ReadInt64());
            if (format == SnapshotFormatWithoutEnds)
            {
                _watermarks.RestorePartition(partition, max);
                continue;
            }

            var endReachedAt = reader.ReadInt64();
            _watermarks.RestorePartition(partition, max, endReachedAt == long.MinValue ? null : endReachedAt, reader.ReadBoolean());
        }

        if (reader.ReadBoolean())
        {
            (_dedup ?? throw new InvalidDataException("the snapshot has dedup state but this operator does no dedup")).Read(reader);
        }

        _eventsIn = reader.ReadInt64();
        _filtered = reader.ReadInt64();
        _duplicates = reader.ReadInt64();
        _late = reader.ReadInt64();
        _aggregated = reader.ReadInt64();
        var count = reader.ReadInt32();
        for (var i = 0; i < count; i++)
        {
            Adopt(ReadSlot(reader, keyCodec, sequence: ++_sequence));
        }
    }

    /// <summary>
    /// Reads one window as a snapshot keeps it: with its own sequence (segments keep it), or numbered now
    /// (<paramref name="sequence"/>, for the formats before segments, which keep the windows in order instead).
    /// </summary>
    private Slot ReadSlot(BinaryReader reader, KeyCodec<TKey> keyCodec, long? sequence)
    {
        var slot = new Slot
        {
            Key = keyCodec.Read(reader),
            Start = reader.ReadInt64(),
            End = reader.ReadInt64(),
        };
        slot.Sequence = sequence ?? reader.ReadInt64();
        slot.Version = reader.ReadInt64();
        slot.EmittedVersion = reader.ReadInt64();
        slot.Closed = reader.ReadBoolean();
        slot.FinalEmitted = reader.ReadBoolean();
        slot.Dirty = reader.ReadBoolean();
        slot.Accumulator = _aggregator.Read(reader);
        return slot;
    }

    /// <summary>Checks a snapshot's windows are this operator's, restores its watermark; returns how many partitions follow.</summary>
    private int ReadWindowAndWatermark(BinaryReader reader)
    {
        var window = reader.ReadString();
        if (window != _window.ToString())
        {
            throw new InvalidDataException($"the snapshot holds {window} windows, this operator has {_window}");
        }

        _watermarks.AdvanceTo(reader.ReadInt64());
        return reader.ReadInt32();
    }

    /// <summary>Takes a restored window in: tracked, queued to close or expire, and pending emission if it was.</summary>
    private void Adopt(Slot slot)
    {
        Track(slot);
        Enqueue(slot);
        _liveWindows++;
        if (slot.Dirty)
        {
            _dirty.Add(slot);
        }
    }

    /// <summary>Restores a snapshot in segments (format 3) whose segments are all inline (<see cref="StateSegments.Resolve"/>).</summary>
    private void RestoreSegmented(byte[] snapshot, KeyCodec<TKey> keyCodec)
    {
        using var reader = new BinaryReader(new MemoryStream(snapshot));
        reader.ReadInt32(); // the format
        var headerEnd = 8 + reader.ReadInt32();
        var partitions = ReadWindowAndWatermark(reader);
        for (var i = 0; i < partitions; i++)
        {
            var (partition, max, endReachedAt) = (reader.ReadInt32(), reader.ReadInt64(), reader.ReadInt64());
            _watermarks.RestorePartition(partition, max, endReachedAt == long.MinValue ? null : endReachedAt, reader.ReadBoolean());
        }

        var hasDedup = reader.ReadBoolean();
        if (hasDedup && _dedup is null)
        {
            throw new InvalidDataException("the snapshot has dedup state but this operator does no dedup");
        }

        _dedup?.RestoreEarlyEvictions(reader.ReadInt64());
        if (_dedup is null)
        {
            reader.ReadInt64();
        }

        _eventsIn = reader.ReadInt64();
        _filtered = reader.ReadInt64();
        _duplicates = reader.ReadInt64();
        _late = reader.ReadInt64();
        _aggregated = reader.ReadInt64();
        _sequence = reader.ReadInt64();
        if (reader.BaseStream.Position != headerEnd)
        {
            throw new InvalidDataException("the snapshot's header has another length than it says");
        }

        var slots = new List<Slot>();
        var segments = reader.ReadInt32();
        for (var i = 0; i < segments; i++)
        {
            var hash = StateSegments.ReadHash(reader.ReadBytes(16));
            var length = reader.ReadInt32();
            if (length < 0)
            {
                throw new InvalidDataException($"state segment {hash:x32} was not put back before the restore (the store resolves references)");
            }

            var end = reader.BaseStream.Position + length;
            var kind = reader.ReadByte();
            var bucket = reader.ReadInt64();
            var part = kind == IdSegment ? reader.ReadInt32() : 0;
            // The store holds every segment of a state it restores (a claim writes them again): refer to them.
            var mark = _segments[(kind, bucket, part)] = new SegmentMark { Hash = hash, Length = length, Stored = true };
            switch (kind)
            {
                case IdSegment:
                    // Parts come in the order they were written, so the bucket's ids keep their order.
                    mark.Count = (_dedup ?? throw new InvalidDataException("the snapshot has dedup ids but this operator does no dedup")).ReadBucket(reader, bucket);
                    break;
                case WindowSegment:
                    var count = reader.ReadInt32();
                    for (var w = 0; w < count; w++)
                    {
                        slots.Add(ReadSlot(reader, keyCodec, sequence: null));
                    }

                    break;
                default:
                    throw new InvalidDataException($"state segment {hash:x32} is of an unknown kind ({kind})");
            }

            if (reader.BaseStream.Position != end)
            {
                throw new InvalidDataException($"state segment {hash:x32} has another length than it says");
            }
        }

        // In the order the windows were opened, as one unsegmented state would be.
        foreach (var slot in slots.OrderBy(s => s.Sequence))
        {
            _sequence = Math.Max(_sequence, slot.Sequence);
            Adopt(slot);
        }
    }

    /// <summary>Format 2 keeps, per partition, whether and since when its end was reached, and whether it is idle.</summary>
    private const int SnapshotFormat = 2;

    /// <summary>Snapshots stored before partition ends were tracked; still restored (every partition counts as active).</summary>
    private const int SnapshotFormatWithoutEnds = 1;

    private IEnumerable<Slot> AllSlots() => _windows.Values.Concat(_sessions.Values.SelectMany(s => s));

    /// <summary>Queues a window by its state: open ones wait to close, closed ones to expire. Older entries go stale.</summary>
    private void Enqueue(Slot slot)
    {
        slot.Generation++;
        (slot.Closed ? _expiring : _closing).Add(slot, slot.Generation, slot.End);
    }

    private void Assign(in TEvent item, long timestamp, List<WindowResult<TKey, TResult>> results)
    {
        var key = _spec.Key(item);
        if (_window.Kind == WindowKind.Session)
        {
            AssignToSession(key, item, timestamp, results);
            return;
        }

        for (var start = _window.LastStartContaining(timestamp); start > timestamp - _window.SizeMs; start -= _window.AdvanceMs)
        {
            if (!_windows.TryGetValue((key, start), out var slot))
            {
                slot = Open(key, start, start + _window.SizeMs);
                _windows[(key, start)] = slot;
            }

            AddTo(slot, item);
        }
    }

    private void AssignToSession(TKey key, in TEvent item, long timestamp, List<WindowResult<TKey, TResult>> results)
    {
        if (!_sessions.TryGetValue(key, out var sessions))
        {
            _sessions[key] = sessions = [];
        }

        // The event's own session is [t, t + gap); it joins every session it overlaps, merging them into one.
        // Sessions of a key are disjoint, so those are exactly the ones to merge.
        var start = timestamp;
        var end = timestamp + _window.GapMs;
        _overlapping.Clear();
        foreach (var session in sessions)
        {
            if (session.Start < end && session.End > start)
            {
                _overlapping.Add(session);
            }
        }

        Slot? target = null;
        foreach (var session in _overlapping)
        {
            if (target is null)
            {
                target = session;
                continue;
            }

            // The earlier-starting session survives; the other's results are withdrawn.
            var (keep, drop) = session.Start < target.Start ? (session, target) : (target, session);
            _aggregator.Merge(ref keep.Accumulator, drop.Accumulator);
            keep.Version += drop.Version;
            Reshape(keep, Math.Min(keep.Start, drop.Start), Math.Max(keep.End, drop.End), results);
            Forget(drop, sessions);
            if (drop.EmittedVersion > 0)
            {
                results.Add(new WindowResult<TKey, TResult>(drop.Key, drop.Start, drop.End, _aggregator.Result(drop.Accumulator), drop.EmittedVersion, WindowEmission.Retraction, Partition));
            }

            target = keep;
        }

        if (target is null)
        {
            target = Open(key, start, end);
            sessions.Add(target);
        }
        else if (start < target.Start || end > target.End)
        {
            Reshape(target, Math.Min(start, target.Start), Math.Max(end, target.End), results);
        }

        AddTo(target, item);
    }

    private Slot Open(TKey key, long start, long end)
    {
        var slot = _recycled.Count > 0 ? _recycled.Pop() : new Slot();
        slot.Reset(key, start, end, ++_sequence, _aggregator.Create());
        // A window can be born closed: its first event arrives after the watermark passed its end, within lateness.
        slot.Closed = end <= _watermarks.Current;
        Changed(slot);
        Enqueue(slot);
        _liveWindows++;
        return slot;
    }

    private void AddTo(Slot slot, in TEvent item)
    {
        _aggregator.Add(ref slot.Accumulator, item);
        slot.Version++;
        Changed(slot);
        if (!slot.Dirty)
        {
            slot.Dirty = true;
            _dirty.Add(slot);
        }
    }

    /// <summary>
    /// Moves a session's bounds, keeping the close/expiry order right. A session emitted under its old start is
    /// withdrawn under that identity, since sinks key results by (key, window start).
    /// </summary>
    private void Reshape(Slot slot, long start, long end, List<WindowResult<TKey, TResult>> results)
    {
        Changed(slot); // its segment before the move; the one after below
        if (start != slot.Start && slot.EmittedVersion > 0)
        {
            results.Add(new WindowResult<TKey, TResult>(slot.Key, slot.Start, slot.End, _aggregator.Result(slot.Accumulator), slot.EmittedVersion, WindowEmission.Retraction, Partition));
            slot.EmittedVersion = 0;
            slot.FinalEmitted = false;
        }

        slot.Start = start;
        slot.End = end;
        Changed(slot);
        if (!slot.Closed || end > _watermarks.Current)
        {
            slot.Closed = end <= _watermarks.Current;
        }

        Enqueue(slot);
    }

    private void Forget(Slot slot, List<Slot>? sessions = null)
    {
        slot.Removed = true;
        slot.Generation++; // its queue entries go stale
        Changed(slot);
        _liveWindows--;
        if (_window.Kind == WindowKind.Session)
        {
            sessions ??= _sessions[slot.Key];
            sessions.Remove(slot);
            if (sessions.Count == 0)
            {
                _sessions.Remove(slot.Key);
            }
        }
        else
        {
            _windows.Remove((slot.Key, slot.Start));
        }

        _recycled.Push(slot);
    }

    private void OnWatermarkAdvanced(List<WindowResult<TKey, TResult>> results)
    {
        var watermark = _watermarks.Current;
        _emitInto = results;
        _closing.TakeDue(watermark, _closeDue);
        _expiring.TakeDue(watermark == long.MaxValue ? long.MaxValue : watermark - _latenessMs, _expireDue);
        _emitInto = null;
        _dedup?.Evict(watermark);
        if (_liveWindows == 0)
        {
            _dirty.Clear();
        }
    }

    private void CloseDue(Slot slot, int generation, long end)
    {
        if (slot.Generation != generation || slot.Removed || slot.Closed)
        {
            return; // a stale entry: the window moved, closed or went since it was queued
        }

        slot.Closed = true;
        Emit(slot, _emitInto!); // marks its segment changed
        Enqueue(slot);
    }

    private void ExpireDue(Slot slot, int generation, long end)
    {
        if (slot.Generation != generation || slot.Removed || !slot.Closed)
        {
            return;
        }

        if (slot.Dirty)
        {
            Emit(slot, _emitInto!);
        }

        Forget(slot);
    }

    private void EmitDirty(List<WindowResult<TKey, TResult>> results)
    {
        foreach (var slot in _dirty)
        {
            if (slot.Dirty && !slot.Removed)
            {
                Emit(slot, results);
            }
        }

        _dirty.Clear();
    }

    private void Emit(Slot slot, List<WindowResult<TKey, TResult>> results)
    {
        var emission = !slot.Closed ? WindowEmission.Early : slot.FinalEmitted ? WindowEmission.LateUpdate : WindowEmission.Final;
        slot.FinalEmitted |= slot.Closed;
        slot.Dirty = false;
        slot.EmittedVersion = slot.Version;
        Changed(slot);
        results.Add(new WindowResult<TKey, TResult>(slot.Key, slot.Start, slot.End, _aggregator.Result(slot.Accumulator), slot.Version, emission, Partition));
    }

    private void Track(Slot slot)
    {
        if (_window.Kind == WindowKind.Session)
        {
            if (!_sessions.TryGetValue(slot.Key, out var sessions))
            {
                _sessions[slot.Key] = sessions = [];
            }

            sessions.Add(slot);
        }
        else
        {
            _windows[(slot.Key, slot.Start)] = slot;
        }
    }

    private sealed class Slot
    {
        public TAccumulator Accumulator = default!;

        public TKey Key { get; set; } = default!;

        public long Start { get; set; }

        public long End { get; set; }

        public long Sequence { get; set; }

        /// <summary>Bumped whenever the window is queued again or forgotten, so older queue entries are known stale.</summary>
        public int Generation { get; set; }

        /// <summary>Events aggregated: the version results carry.</summary>
        public long Version { get; set; }

        public long EmittedVersion { get; set; }

        public bool Closed { get; set; }

        public bool FinalEmitted { get; set; }

        public bool Dirty { get; set; }

        public bool Removed { get; set; }

        public void Reset(TKey key, long start, long end, long sequence, TAccumulator accumulator)
        {
            (Key, Start, End, Sequence, Accumulator) = (key, start, end, sequence, accumulator);
            (Version, EmittedVersion, Closed, FinalEmitted, Dirty, Removed) = (0, 0, false, false, false, false);
        }
    }
}
