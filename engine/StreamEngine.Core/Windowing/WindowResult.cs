using StreamEngine.Core.Events;

namespace StreamEngine.Core.Windowing;

/// <summary>Why a window result was emitted.</summary>
public enum WindowEmission
{
    /// <summary>The window is still open; a later result replaces this one.</summary>
    Early,

    /// <summary>The watermark passed the window's end: its result as of closing.</summary>
    Final,

    /// <summary>An allowed-late event changed a closed window; replaces the earlier result.</summary>
    LateUpdate,

    /// <summary>A session was merged into another; its earlier results no longer stand.</summary>
    Retraction,
}

/// <summary>
/// One window's aggregate for one key. <see cref="Version"/> counts the events in the window, so it grows with
/// input progress and is the same on a replay of the same input: sinks upsert on (key, window) by version.
/// With state per source partition, <see cref="Partition"/> says whose partial it is (sinks upsert on
/// (key, window, partition) and sum the partitions); -1 when one state spans every partition.
/// </summary>
public readonly record struct WindowResult<TKey, TResult>(
    TKey Key, long WindowStartMs, long WindowEndMs, TResult Value, long Version, WindowEmission Emission, int Partition = -1)
{
    /// <summary>The window's start as a UTC time.</summary>
    public DateTime WindowStart => DateTime.UnixEpoch.AddMilliseconds(WindowStartMs);

    /// <summary>Whether the window is closed (final, a late update or a retraction): not an early result.</summary>
    public bool IsFinal => Emission != WindowEmission.Early;
}

/// <summary>An event that came later than the allowed lateness, with the reason; it went into no result.</summary>
public readonly record struct LateEvent<TEvent>(TEvent Event, int Partition, long WatermarkMs, string Reason);

/// <summary>Running totals of a windowed aggregation, for metrics.</summary>
public readonly record struct WindowCounters(
    long EventsIn, long Filtered, long Duplicates, long Late, long Aggregated, int OpenWindows, long TrackedIds, long DedupEarlyEvictions, long WatermarkMs)
{
    /// <summary>Events of a partition this process did not hold (not assigned now, or an earlier assignment): discarded, never state.</summary>
    public long Discarded { get; init; }

    /// <summary>
    /// The totals of two states side by side: counters and gauges add up; the watermark is the lower one (the
    /// event time every part has reached), ignoring a part that has none yet.
    /// </summary>
    public static WindowCounters operator +(WindowCounters a, WindowCounters b) => new(
        a.EventsIn + b.EventsIn, a.Filtered + b.Filtered, a.Duplicates + b.Duplicates, a.Late + b.Late, a.Aggregated + b.Aggregated,
        a.OpenWindows + b.OpenWindows, a.TrackedIds + b.TrackedIds, a.DedupEarlyEvictions + b.DedupEarlyEvictions,
        a.WatermarkMs == long.MinValue ? b.WatermarkMs : b.WatermarkMs == long.MinValue ? a.WatermarkMs : Math.Min(a.WatermarkMs, b.WatermarkMs))
    {
        Discarded = a.Discarded + b.Discarded,
    };

    /// <summary>The totals of two states side by side (see the + operator).</summary>
    public static WindowCounters Add(WindowCounters a, WindowCounters b) => a + b;

    /// <summary>Only what keeps counting when a state goes away (its gauges and watermark left with it).</summary>
    public WindowCounters Totals => this with { OpenWindows = 0, TrackedIds = 0, WatermarkMs = long.MinValue };
}

/// <summary>What one batch or one timer tick produced; one <c>OnNext</c> each.</summary>
public sealed record WindowOutput<TKey, TResult, TEvent>(
    IReadOnlyList<WindowResult<TKey, TResult>> Results, IReadOnlyList<LateEvent<TEvent>> Late, WindowCounters Counters)
{
    /// <summary>
    /// With <see cref="WindowOptions.EmitAcceptedEvents"/>: the batch's events that went into windows (deduplicated,
    /// not late), for a sink of raw events; its partition and offset are the batch's. Empty otherwise.
    /// </summary>
    public EventBatch<TEvent> Accepted { get; init; }
}

/// <summary>Helpers for sinks of window results.</summary>
public static class WindowResults
{
    /// <summary>
    /// The last result of each (key, window, partition), in the order the windows first appear: what an upserting
    /// sink ends up holding, so a batch of results need carry nothing more (early updates superseded within it drop out).
    /// </summary>
    public static List<WindowResult<TKey, TResult>> LatestPerWindow<TKey, TResult>(this IReadOnlyList<WindowResult<TKey, TResult>> results)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(results);
        // Sized for the batch and one lookup per result: a catch-up's checkpoint passes hundreds of thousands here.
        var index = new Dictionary<(TKey Key, long Start, int Partition), int>(results.Count);
        var latest = new List<WindowResult<TKey, TResult>>(results.Count);
        foreach (var result in results)
        {
            ref var at = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(index, (result.Key, result.WindowStartMs, result.Partition), out var seen);
            if (seen)
            {
                latest[at] = result;
            }
            else
            {
                at = latest.Count;
                latest.Add(result);
            }
        }

        return latest;
    }
}
