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
    /// MEMORY_LIMIT_EXCEEDED, TOO_MANY_PARTS, KEEPER_EXCEPTION, and a full disk (<see cref="IsDiskFull"/>). Anything
    /// else (a bad query, a missing table) is not cured by waiting and stops the job at once.
    /// </summary>
    private static readonly HashSet<int> TransientCodes = [159, 202, 209, 210, 241, 252, 999];

    /// <summary>NOT_ENOUGH_SPACE: ClickHouse could not reserve room for a part.</summary>
    private const int NotEnoughSpace = 243;

    /// <summary>How often a stall that goes on is reported again.</summary>
    private static readonly TimeSpan StallReminder = TimeSpan.FromMinutes(1);

    private readonly IClickHouseStore _store;
    private readonly string _table;
    private readonly ResiliencePipeline _pipeline;
    private readonly TimeProvider _clock;
    private readonly Lock _stallLock = new();
    private WriteStall? _stall;
    private int _failingOperations; // under _stallLock: operations that failed and have not ended yet
    private DateTimeOffset _stallReported;
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
        _clock = clock ?? TimeProvider.System;
        TableName = table[(table.LastIndexOf('.') + 1)..];
        var transient = new PredicateBuilder().Handle<ClickHouseException>(IsTransient).Handle<HttpRequestException>().Handle<TimeoutException>();
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = _clock }
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

    /// <summary>Where a stalled write (and once a minute while it lasts) and a refused deduplication setting are reported.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Where the end of a stall is reported.</summary>
    public Action<string>? Inform { get; init; }

    /// <summary>The table's name without its database (the <c>table</c> label of sink metrics).</summary>
    public string TableName { get; }

    public WriterCounters Counters
    {
        get
        {
            lock (_stallLock)
            {
                return new(Interlocked.Read(ref _batches), Interlocked.Read(ref _rows), Interlocked.Read(ref _failedAttempts), Interlocked.Read(ref _retries)) { Stall = _stall };
            }
        }
    }

    /// <summary>
    /// Whether ClickHouse refused the write for want of disk space: it could not reserve room for a part
    /// (NOT_ENOUGH_SPACE), or writing a file failed with ENOSPC (CANNOT_WRITE_TO_FILE_DESCRIPTOR and the like carry
    /// the system's message). Transient: the write waits until space returns.
    /// </summary>
    public static bool IsDiskFull(ClickHouseException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Code == NotEnoughSpace || error.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase);
    }

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
        }, "write a batch to", cancellationToken);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _rows, batch.Length);
        EngineTelemetry.SinkWriteDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("table", TableName));
    }

    /// <summary>Runs a query about this table with the same patience as a write (for reading back what the sink stored).</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default)
    {
        var output = "";
        await ResilientAsync(async ct => output = await _store.QueryAsync(sql, ct), "answer a query about", cancellationToken);
        return output;
    }

    private async Task ResilientAsync(Func<CancellationToken, Task> action, string what, CancellationToken cancellationToken)
    {
        // Several operations may run on one writer at once (a checkpoint's insert, a claim's query): the stall is
        // over when none of those that failed is still retrying.
        var failing = false;
        var succeeded = false;
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
                    if (e is not ClickHouseException error || IsTransient(error))
                    {
                        Stalled(what, e, first: !failing);
                        failing = true;
                    }

                    throw;
                }
            }, cancellationToken);
            succeeded = true;
        }
        catch (Polly.Timeout.TimeoutRejectedException e)
        {
            throw new ClickHouseException($"{_store.Description} did not {what} {_table} within the retry limit; stopping rather than dropping data", e);
        }
        finally
        {
            if (failing)
            {
                Recovered(succeeded);
            }
        }
    }

    /// <summary>A failure that will be retried: the stall starts (reported) or goes on (its reason updated, reported once a minute).</summary>
    private void Stalled(string what, Exception error, bool first)
    {
        var now = _clock.GetUtcNow();
        var reason = error is ClickHouseException clickHouse && IsDiskFull(clickHouse)
            ? $"out of disk space: {error.Message}"
            : error.Message;
        DateTimeOffset since;
        bool report;
        lock (_stallLock)
        {
            _failingOperations += first ? 1 : 0;
            since = _stall?.Since ?? now;
            report = _stall is null || now - _stallReported >= StallReminder;
            _stall = new WriteStall(since, reason);
            if (report)
            {
                _stallReported = now;
            }
        }

        if (report)
        {
            Warn?.Invoke($"{_store.Description} has failed for {(now - since).TotalSeconds:F0} s to {what} {_table}; retrying (the results wait, and the source is held back once enough of them do): {reason}");
        }
    }

    /// <summary>An operation that had failed ended (it went through, gave up or was cancelled); the last one ends the stall.</summary>
    private void Recovered(bool succeeded)
    {
        WriteStall? ended = null;
        lock (_stallLock)
        {
            if (--_failingOperations == 0)
            {
                (ended, _stall) = (_stall, null);
            }
        }

        if (ended is not null)
        {
            Inform?.Invoke(succeeded
                ? $"{_store.Description} takes {_table} again after {(_clock.GetUtcNow() - ended.Since).TotalSeconds:F0} s of failures"
                : $"{_store.Description}: a failing operation on {_table} ended without going through after {(_clock.GetUtcNow() - ended.Since).TotalSeconds:F0} s");
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
            // Set once per table, not at every start: each ALTER rewrites the table's metadata file. (Without the right
            // to read system.tables or system.disks the checks are skipped and the ALTER decides.)
            var dot = _table.IndexOf('.', StringComparison.Ordinal);
            var definition = await AnswerUnlessRefusedAsync(
                $"SELECT create_table_query FROM system.tables WHERE database = {ClickHouseSql.Literal(_table[..Math.Max(0, dot)])} AND name = {ClickHouseSql.Literal(_table[(dot + 1)..])}",
                cancellationToken);
            // Replicated tables drop re-sent blocks by replicated_deduplication_window, and a Distributed table hands its
            // blocks, tokens included, to such tables on the shards: nothing to set on either.
            var replicated = System.Text.RegularExpressions.Regex.IsMatch(definition, @"ENGINE = (Replicated\w*MergeTree|Distributed)\b");
            if (!replicated && !System.Text.RegularExpressions.Regex.IsMatch(definition, $@"\bnon_replicated_deduplication_window = {DeduplicationWindow}\b"))
            {
                try
                {
                    await SchemaChangeSafety.ThrowIfDiskNearlyFullAsync(_store, $"setting the deduplication window of {_table}", cancellationToken);
                }
                catch (ClickHouseException e) when (!IsTransient(e))
                {
                    // The disks cannot be read: go ahead, as before the check existed.
                }

                await _store.ExecuteAsync($"ALTER TABLE {ClickHouseSql.Identifier(_table)} MODIFY SETTING non_replicated_deduplication_window = {DeduplicationWindow}", cancellationToken);
            }
        }
        catch (ClickHouseException e) when (!IsTransient(e))
        {
            // Not a MergeTree (a Null or Distributed table), no right to alter it, or missing (the insert will say so).
            Warn?.Invoke($"{_table}: re-sent blocks are not dropped, the deduplication window could not be set ({e.ErrorName}: {e.Message})");
        }

        _deduplicating = true;
    }

    /// <summary>The query's answer, or empty when ClickHouse refuses it for good (no grant, say); transient failures throw.</summary>
    private async Task<string> AnswerUnlessRefusedAsync(string sql, CancellationToken cancellationToken)
    {
        try
        {
            return await _store.QueryAsync(sql, cancellationToken);
        }
        catch (ClickHouseException e) when (!IsTransient(e))
        {
            return "";
        }
    }

    /// <summary>Code 0: no ClickHouse code at all, i.e. the server was not reached.</summary>
    private static bool IsTransient(ClickHouseException error) => error.Code == 0 || TransientCodes.Contains(error.Code) || IsDiskFull(error);

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
