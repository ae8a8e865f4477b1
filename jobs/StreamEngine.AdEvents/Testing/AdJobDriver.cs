using StreamEngine.Core.Dsl;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Results;
using StreamEngine.Runtime.Testing;

namespace StreamEngine.AdEvents.Testing;

/// <summary>
/// Runs an ad job in process through the runtime's job test driver (<see cref="JobTestDriver{TEvent,TKey,TResult}"/>:
/// the real checkpoint protocol over in-memory partitions and store, in virtual time), for a job author's tests: append
/// events per partition, <see cref="Run"/> (optionally with a process that crashes in its second checkpoint and one that
/// restores and finishes), then read the stored results or the rows the job's declared tables get.
/// </summary>
public sealed class AdJobDriver<TKey, TResult>
    where TKey : notnull
{
    private readonly AdJob<TKey, TResult> _job;

    public AdJobDriver(AdJob<TKey, TResult> job, int partitions = 1, WindowOptions? windowing = null, long startMs = 0, SymbolTable? symbols = null)
    {
        ArgumentNullException.ThrowIfNull(job);
        _job = job;
        Symbols = symbols ?? new SymbolTable();
        Windowing = windowing ?? new WindowOptions();
        Driver = new JobTestDriver<AdEvent, TKey, TResult>(partitions,
            (events, checkpoints, clock) => job.Build(events, new JobContext(Windowing, clock, checkpoints), Symbols), startMs, job.KeyCodec(Symbols));
    }

    /// <summary>Names of the events' interned ids (campaigns, ads, slots, publishers): intern them here when making events.</summary>
    public SymbolTable Symbols { get; }

    public WindowOptions Windowing { get; }

    /// <summary>The driver underneath, for schedules of your own (revokes, lost partitions, failing writes).</summary>
    public JobTestDriver<AdEvent, TKey, TResult> Driver { get; }

    public void Append(int partition, params IEnumerable<AdEvent> events) => Driver.Append(partition, events);

    /// <summary>
    /// Reads every partition to its end and checkpoints. With a <paramref name="crash"/>, a first process reads a third,
    /// checkpoints, reads another third and dies at that step of its second checkpoint; a second process then takes every
    /// partition over from the stored checkpoints and finishes. Returns each (key, window, partition)'s newest stored result.
    /// </summary>
    public IReadOnlyList<WindowResult<TKey, TResult>> Run(CrashPoint crash = CrashPoint.None)
    {
        var partitions = Driver.Partitions;
        if (crash != CrashPoint.None)
        {
            var first = Driver.Start();
            for (var round = 0; round < 2; round++)
            {
                for (var p = 0; p < partitions; p++)
                {
                    if (round == 0)
                    {
                        first.Assign(p);
                    }

                    first.Poll(p, (int)(Driver.EndOffset(p) / 3));
                }

                Driver.Clock.AdvanceBy(Windowing.EmitInterval);
                if (round == 0 ? !first.Checkpoint() : !Crashed(first, crash))
                {
                    throw new InvalidOperationException(round == 0 ? "the first checkpoint did not complete" : $"the process did not die at {crash}");
                }
            }
        }

        var last = Driver.Start();
        for (var p = 0; p < partitions; p++)
        {
            last.Assign(p);
            last.Poll(p, int.MaxValue);
        }

        Driver.Clock.AdvanceBy(Windowing.EmitInterval);
        if (!last.Checkpoint())
        {
            throw new InvalidOperationException("the last checkpoint did not complete");
        }

        return [.. Driver.Store.Rows.Values];
    }

    /// <summary>Every batch written so far as the rows of the job's declared tables (what ClickHouse would have been sent).</summary>
    public IReadOnlyList<TableRows> WrittenRows()
    {
        var tables = _job.Results(new Utf8Names(Symbols));
        return [.. Driver.Store.Written.SelectMany(batch => tables.ToRows(batch))];
    }

    private static bool Crashed(JobTestDriver<AdEvent, TKey, TResult>.JobProcess process, CrashPoint crash)
    {
        process.Checkpoint(crash);
        return process.Dead;
    }
}
