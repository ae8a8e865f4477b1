using Apache.Arrow;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;

namespace StreamEngine.AdEvents;

/// <summary>
/// A job the host runs over ad events, exactly once into ClickHouse: a windowed pipeline built with the DSL, the
/// schema of its results table and views, and how its results become rows. Results are written with every
/// checkpoint, before the per-partition state that covers them (docs/exactly-once.md), so rows must be keyed by
/// (key, window, source partition) and carry the result's version for a ReplacingMergeTree.
/// </summary>
/// <typeparam name="TKey">The aggregation key (e.g. a campaign's interned id).</typeparam>
/// <typeparam name="TResult">One window's result.</typeparam>
public abstract class AdJob<TKey, TResult> : IAdJob
    where TKey : notnull
{
    public abstract string Name { get; }

    public abstract string Summary { get; }

    public abstract IReadOnlyList<SchemaStep> Schema { get; }

    /// <summary>Whether this job also writes the raw, deduplicated events to <c>ads.events</c> (one job per deployment should).</summary>
    public virtual bool WritesRawEvents => false;

    /// <summary>
    /// The pipeline: events in, windowed results out (use <see cref="JobContext.Windowing"/> and its checkpoints).
    /// <paramref name="symbols"/> names the events' interned ids; state that holds ids must snapshot their names.
    /// </summary>
    public abstract IObservable<WindowOutput<TKey, TResult, AdEvent>> Build(IObservable<EventBatch<AdEvent>> events, JobContext context, SymbolTable symbols);

    /// <summary>Results as Arrow batches, one per results table (a table without rows may be left out).</summary>
    public abstract IReadOnlyList<TableRows> ToRows(IReadOnlyList<WindowResult<TKey, TResult>> results, Utf8Names names);

    /// <summary>
    /// Live values of results for NATS and SignalR (the contract's live metrics): one update per result, conflated per
    /// subject downstream. None by default.
    /// </summary>
    public virtual IEnumerable<LiveUpdate> Live(IReadOnlyList<WindowResult<TKey, TResult>> results, SymbolTable symbols) => [];

    /// <summary>How keys go into snapshots; interned ids must be written as names (ids differ between processes).</summary>
    public virtual KeyCodec<TKey>? KeyCodec(SymbolTable symbols) => null;

    public T Accept<T>(IAdJobVisitor<T> visitor)
    {
        ArgumentNullException.ThrowIfNull(visitor);
        return visitor.Visit(this);
    }

    /// <summary>The key codec for jobs keyed by an interned name.</summary>
    protected static KeyCodec<int> InternedNames(SymbolTable symbols)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        return new KeyCodec<int>((w, id) => w.Write(symbols.Name(id)), r => symbols.Intern(r.ReadString()));
    }

    /// <summary>The pipeline's aggregation with the context's checkpoints when the host gives some.</summary>
    protected static IObservable<WindowOutput<TKey, TResult, AdEvent>> Aggregate<TAccumulator>(
        WindowedStream<AdEvent, TKey> windowed, IAggregator<AdEvent, TAccumulator, TResult> aggregator, JobContext context)
    {
        ArgumentNullException.ThrowIfNull(windowed);
        ArgumentNullException.ThrowIfNull(context);
        return context.Checkpoints is { } checkpoints
            ? windowed.Aggregate(aggregator, context.Windowing, context.Scheduler, checkpoints)
            : windowed.Aggregate(aggregator, context.Windowing, context.Scheduler);
    }
}

/// <summary>Any <see cref="AdJob{TKey,TResult}"/>, without its type arguments (for catalogs and the command line).</summary>
public interface IAdJob
{
    /// <summary>The name on the command line (<c>streamengine run --job NAME</c>).</summary>
    string Name { get; }

    /// <summary>One line: what it computes and where the results go.</summary>
    string Summary { get; }

    /// <summary>Calls back with the job's type arguments known.</summary>
    T Accept<T>(IAdJobVisitor<T> visitor);
}

/// <summary>Does something with a job whose key and result types it needs (the host starts its pipeline this way).</summary>
public interface IAdJobVisitor<out T>
{
    T Visit<TKey, TResult>(AdJob<TKey, TResult> job)
        where TKey : notnull;
}
