using Apache.Arrow;
using StreamEngine.Core.Aggregation;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.State;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Results;

namespace StreamEngine.AdEvents;

/// <summary>
/// A job the host runs over ad events, exactly once into ClickHouse: a windowed pipeline built with the DSL and its
/// results tables, declared once (<see cref="ResultTable"/>): the tables, the analysts' views that apply the
/// exactly-once rule and the rows of each batch all come from the declaration (docs/exactly-once.md).
/// </summary>
/// <typeparam name="TKey">The aggregation key (e.g. a campaign's interned id).</typeparam>
/// <typeparam name="TResult">One window's result.</typeparam>
public abstract class AdJob<TKey, TResult> : IAdJob
    where TKey : notnull
{
    public abstract string Name { get; }

    public abstract string Summary { get; }

    /// <summary>Schema steps beyond the declared tables (tables the job fills itself), named; none by default.</summary>
    public virtual IReadOnlyList<SchemaStep> Schema => [];

    /// <summary>Whether this job also writes the raw, deduplicated events to <c>ads.events</c> (one job per deployment should).</summary>
    public virtual bool WritesRawEvents => false;

    /// <summary>
    /// The pipeline: events in, windowed results out (use <see cref="JobContext.Windowing"/> and its checkpoints).
    /// <paramref name="symbols"/> names the events' interned ids; state that holds ids must snapshot their names.
    /// </summary>
    public abstract IObservable<WindowOutput<TKey, TResult, AdEvent>> Build(IObservable<EventBatch<AdEvent>> events, JobContext context, SymbolTable symbols);

    /// <summary>
    /// The results tables: where each window's result goes. <paramref name="names"/> gives interned ids' names as UTF-8
    /// for the columns (called once per run, and once without events for the schema).
    /// </summary>
    public abstract IReadOnlyList<ResultTable<TKey, TResult>> Results(Utf8Names names);

    /// <summary>The declared tables' schemas (their DDL is the store's business).</summary>
    public IReadOnlyList<ResultTableSchema> ResultSchemas => [.. Results(new Utf8Names(new SymbolTable())).Select(t => t.Schema)];

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

    /// <summary>Its declared results tables.</summary>
    IReadOnlyList<ResultTableSchema> ResultSchemas { get; }

    /// <summary>Its schema steps beyond the declared tables.</summary>
    IReadOnlyList<SchemaStep> Schema { get; }

    /// <summary>Calls back with the job's type arguments known.</summary>
    T Accept<T>(IAdJobVisitor<T> visitor);
}

/// <summary>Does something with a job whose key and result types it needs (the host starts its pipeline this way).</summary>
public interface IAdJobVisitor<out T>
{
    T Visit<TKey, TResult>(AdJob<TKey, TResult> job)
        where TKey : notnull;
}
