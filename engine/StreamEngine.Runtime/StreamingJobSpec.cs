using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Runtime;

/// <summary>
/// What the runtime needs of a streaming job: its name and its pipeline (events and a <see cref="JobContext"/> with
/// the runner's checkpoint handle in, windowed output out), and optionally its live values and how its keys go into
/// snapshots. Where results are stored is the <see cref="Ports.IResultsStore{TEvent,TKey,TResult}"/>'s business.
/// </summary>
public sealed record StreamingJobSpec<TEvent, TKey, TResult>(
    string Name,
    Func<IObservable<EventBatch<TEvent>>, JobContext, IObservable<WindowOutput<TKey, TResult, TEvent>>> Build)
    where TKey : notnull
{
    /// <summary>Live values of a batch of results (none by default), for NATS and the hub.</summary>
    public Func<IReadOnlyList<WindowResult<TKey, TResult>>, IEnumerable<LiveUpdate>> Live { get; init; } = _ => [];

    /// <summary>How keys are written into snapshots (<see cref="CheckpointHandle.KeyCodec"/>); null: the default codec.</summary>
    public object? KeyCodec { get; init; }

    /// <summary>Window options (lateness, watermark delay, raw events); the contract's defaults unless set.</summary>
    public WindowOptions Windowing { get; init; } = new();
}

/// <summary>When the runner checkpoints and holds the source back; defaults suit a live job and its catch-ups.</summary>
public sealed record StreamingJobOptions
{
    /// <summary>Time between checkpoints of a live job.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the run loop looks at the source between checkpoints.</summary>
    public TimeSpan WakeInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Rows (results and accepted events) waiting for the store before the source is held back (it then pauses its partitions).</summary>
    public int MaxPendingRows { get; init; } = 1_000_000;

    /// <summary>
    /// Rows waiting that make a checkpoint start before its interval is up (batches by size and by time); at most half
    /// of <see cref="MaxPendingRows"/>, so a low bound does not hold the source back between checkpoints.
    /// </summary>
    public int FlushAtPendingRows { get; init; } = 250_000;

    /// <summary>
    /// Consumer lag (messages) beyond which the job is catching up (a replay, a backlog): its results are not live, so
    /// it checkpoints by volume. Every checkpoint rewrites each key it changed: fewer, larger ones rewrite each key
    /// fewer times, and the store is what bounds a catch-up.
    /// </summary>
    public long CatchUpLag { get; init; } = 200_000;

    /// <summary>Rows waiting that start a checkpoint while catching up.</summary>
    public int CatchUpFlushAtPendingRows { get; init; } = 750_000;

    /// <summary>Time between checkpoints while catching up.</summary>
    public TimeSpan CatchUpCheckpointInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often early and late updates go out while catching up (instead of every window emit interval): results
    /// minutes or hours behind are not live, and each update is a live message and a row the next checkpoint rewrites.
    /// </summary>
    public TimeSpan CatchUpEmitInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a checkpoint waits for late records to be delivered.</summary>
    public TimeSpan SideOutputFlushTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long checkpoints may keep failing on undelivered side-output records before the job stops with the reason.</summary>
    public TimeSpan SideOutputGiveUpAfter { get; init; } = TimeSpan.FromMinutes(10);
}
