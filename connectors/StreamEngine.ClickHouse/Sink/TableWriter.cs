using System.Diagnostics;
using System.IO.Hashing;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Telemetry;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.ClickHouse.Sink;

/// <summary>
/// Writes Arrow record batches to one table and does not give up while ClickHouse is unavailable: retries with
/// exponential backoff and jitter behind a circuit breaker, until the batch is in (or a permanent error, or
/// <see cref="SinkOptions.GiveUpAfter"/>, stops the job). A batch carries a deduplication token made from its
/// content; with <see cref="SinkOptions.DropRepeatedBlocks"/> a retry of a block that did arrive (the reply was lost)
/// is dropped by the table: before its first write the writer sets the table's
/// <c>non_replicated_deduplication_window</c> (without it a non-replicated MergeTree ignores tokens; replicated tables
/// deduplicate by <c>replicated_deduplication_window</c>, on by default).
/// </summary>
public sealed class TableWriter
{
    /// <summary>
    /// ClickHouse errors that pass: TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, SOCKET_TIMEOUT, NETWORK_ERROR,
    /// MEMORY_LIMIT_EXCEEDED, TOO_MANY_PARTS, KEEPER_EXCEPTION. Anything else (a bad query, a missing table) is not
    /// cured by waiting and stops the job at once.
    /// </summary>
    private static readonly HashSet<int> TransientCodes = [159, 202, 209, 210, 241, 252, 999];

    private readonly IClickHouseStore _store;
    private readonly string _table;
    private readonly ResiliencePipeline _pipeline;
    private volatile bool _deduplicating;
    private readonly bool _dropRepeatedBlocks;

    /// <summary>Blocks whose tokens a table remembers: far more than the inserts of one checkpoint retried.</summary>
    public const int DeduplicationWindow = 1000;
    private long _batches;
    private long _rows;
    private long _failedAttempts;
    private long _retries;

    public TableWriter(IClickHouseStore store, string table, SinkOptions? options = null, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(table);
        options ??= new SinkOptions();
        _dropRepeatedBlocks = options.DropRepeatedBlocks;
        _store = store;
        _table = table;
        TableName = table[(table.LastIndexOf('.') + 1)..];
        var transient = new PredicateBuilder().Handle<ClickHouseException>(IsTransient).Handle<HttpRequestException>().Handle<TimeoutException>();
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = clock ?? TimeProvider.System }
            .AddTimeout(options.GiveUpAfter)
            .AddRetry(new RetryStrategyOptions
            {
                // An open circuit is waited out like any other transient failure.
                ShouldHandle = new PredicateBuilder().Handle<ClickHouseException>(IsTransient).Handle<HttpRequestException>().Handle<TimeoutException>().Handle<BrokenCircuitException>(),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.InitialRetryDelay,
                MaxDelay = options.MaxRetryDelay,
                MaxRetryAttempts = int.MaxValue,
                OnRetry = _ =>
                {
                    Interlocked.Increment(ref _retries);
                    return ValueTask.CompletedTask;
                },
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = transient,
                FailureRatio = 1.0,
                MinimumThroughput = options.BreakAfterConsecutiveFailures,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = options.BreakDuration,
            })
            .Build();
    }

    public string Table => _table;

    /// <summary>Where a refused deduplication setting is reported (the writer goes on without it).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>The table's name without its database (the <c>table</c> label of sink metrics).</summary>
    public string TableName { get; }

    public WriterCounters Counters => new(Interlocked.Read(ref _batches), Interlocked.Read(ref _rows), Interlocked.Read(ref _failedAttempts), Interlocked.Read(ref _retries));

    /// <summary>
    /// Writes the batch; completes only once ClickHouse has it. <paramref name="correlationId"/> goes with the insert as
    /// its <c>log_comment</c> (in <c>system.query_log</c>), so a stored batch can be traced to the engine's logs and spans.
    /// </summary>
    public async Task WriteAsync(RecordBatch batch, string? correlationId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Length == 0)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var token = $"{_table}/{ContentHash(batch)}";
        await ResilientAsync(async ct =>
        {
            await EnsureDeduplicationAsync(ct);
            await _store.InsertAsync(_table, batch, token, correlationId, ct);
        }, "accept a batch for", cancellationToken);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _rows, batch.Length);
        EngineTelemetry.SinkWriteDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("table", TableName));
    }

    /// <summary>Runs a query about this table with the same patience as a write (for reading back what the sink stored).</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default)
    {
        var output = "";
        await ResilientAsync(async ct => output = await _store.QueryAsync(sql, ct), "answer a query on", cancellationToken);
        return output;
    }

    private async Task ResilientAsync(Func<CancellationToken, Task> action, string what, CancellationToken cancellationToken)
    {
        try
        {
            await _pipeline.ExecuteAsync(async ct =>
            {
                try
                {
                    await action(ct);
                }
                catch (Exception e) when (e is ClickHouseException or HttpRequestException or TimeoutException)
                {
                    Interlocked.Increment(ref _failedAttempts);
                    throw;
                }
            }, cancellationToken);
        }
        catch (Polly.Timeout.TimeoutRejectedException e)
        {
            throw new ClickHouseException($"{_store.Description} did not {what} {_table} within the retry limit; stopping rather than dropping data", e);
        }
    }

    /// <summary>Makes the table keep the tokens of its last blocks, once per writer (idempotent; an engine without the setting is left as it is).</summary>
    private async Task EnsureDeduplicationAsync(CancellationToken cancellationToken)
    {
        if (_deduplicating || !_dropRepeatedBlocks)
        {
            return;
        }

        try
        {
            await _store.ExecuteAsync($"ALTER TABLE {ClickHouseSql.Identifier(_table)} MODIFY SETTING non_replicated_deduplication_window = {DeduplicationWindow}", cancellationToken);
        }
        catch (ClickHouseException e) when (!IsTransient(e))
        {
            // Not a MergeTree (a Null or Distributed table), no right to alter it, or missing (the insert will say so).
            Warn?.Invoke($"{_table}: re-sent blocks are not dropped, the deduplication window could not be set ({e.ErrorName}: {e.Message})");
        }

        _deduplicating = true;
    }

    /// <summary>Code 0: no ClickHouse code at all, i.e. the server was not reached.</summary>
    private static bool IsTransient(ClickHouseException error) => error.Code == 0 || TransientCodes.Contains(error.Code);

    /// <summary>
    /// XxHash128 of the batch in Arrow IPC: the same rows give the same token, whoever sends them. Not cryptographic:
    /// a token only tells a retried block from another block of the same table (SHA-256 cost more than the insert path could spare).
    /// </summary>
    private static string ContentHash(RecordBatch batch)
    {
        var hash = new XxHash128();
        using var stream = new HashingStream(hash);
        using (var writer = new ArrowStreamWriter(stream, batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return Convert.ToHexString(hash.GetCurrentHash());
    }

    /// <summary>A write-only stream that feeds a hash.</summary>
    private sealed class HashingStream(NonCryptographicHashAlgorithm hash) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => hash.Append(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer) => hash.Append(buffer);

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
