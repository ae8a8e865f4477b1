using StreamEngine.Host.Running;
using StreamEngine.Runtime;

namespace StreamEngine.Host.Observability;

/// <summary>
/// What <c>/readyz</c> asks: a job runs; each job that reads Kafka holds partitions, has caught up once and lags no
/// more than <see cref="EngineHttpOptions.MaxReadyLag"/>; no write of a job has been failing (the store down, full
/// or refusing) and no source is held back for it; the ClickHouse sink answers. An orchestrator routes no
/// dashboard traffic to an engine that is not ready, and a rolling update waits for it.
/// </summary>
public static class Readiness
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long a failing write or a held-back source lasts before it makes the engine unready.</summary>
    public static readonly TimeSpan ReportAfter = TimeSpan.FromSeconds(10);

    /// <summary>Why the engine is not ready; empty when it is.</summary>
    public static async Task<IReadOnlyList<string>> ProblemsAsync(IReadOnlyList<IRunningJob> jobs, EngineHttpOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (jobs.Count == 0)
        {
            problems.Add("no job running yet");
        }

        foreach (var job in jobs)
        {
            var telemetry = job.Telemetry;
            // A failed attempt retried at once, or a moment's hold while catching up against a busy store, is normal.
            var now = DateTimeOffset.UtcNow;
            foreach (var (table, counters) in telemetry.Sinks)
            {
                if (counters.Stall is { } stall && now - stall.Since >= ReportAfter)
                {
                    problems.Add($"{job.Name} cannot write {table} (failing for {(now - stall.Since).TotalSeconds:F0} s, retrying): {stall.Reason}");
                }
            }

            if (telemetry.HeldBackSince is { } held && now - held >= ReportAfter)
            {
                problems.Add($"{job.Name} holds its source back for {(now - held).TotalSeconds:F0} s: {telemetry.PendingRows:N0} rows wait for the store");
            }

            if (telemetry.Topic.Length == 0)
            {
                continue;
            }

            var lag = telemetry.PartitionLag.Values.Sum();
            if (telemetry.AssignedPartitions.Count == 0)
            {
                problems.Add($"{job.Name} holds no partition of {telemetry.Topic}");
            }
            else if (job.CaughtUpAfter is null)
            {
                problems.Add($"{job.Name} has not caught up yet");
            }
            else if (lag > options.MaxReadyLag)
            {
                problems.Add($"{job.Name} lags {lag:N0} messages (health.max_lag {options.MaxReadyLag:N0})");
            }
        }

        if (options.SinkProbe is { } probe)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ProbeTimeout);
            try
            {
                await probe(timeout.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                problems.Add($"ClickHouse does not answer: {(e is OperationCanceledException ? $"no reply within {ProbeTimeout.TotalSeconds:F0} s" : e.Message)}");
            }
        }

        return problems;
    }
}
