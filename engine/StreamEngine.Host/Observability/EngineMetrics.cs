using System.Diagnostics.Metrics;
using System.Reflection;
using StreamEngine.Host.Running;

namespace StreamEngine.Host.Observability;

/// <summary>
/// The engine's metrics as System.Diagnostics.Metrics instruments (meter <c>StreamEngine</c>), read from the running
/// jobs when a collector asks; the host exports them in Prometheus' format at <c>/metrics</c>. Names follow
/// Prometheus' conventions (prefix <c>streamengine_</c>, base units, counters end in <c>_total</c> once exported); the
/// only label is the job name: no campaign, slot or user ids.
/// </summary>
public sealed class EngineMetrics : IDisposable
{
    public const string MeterName = "StreamEngine";

    private readonly Meter _meter;

    public EngineMetrics(IReadOnlyList<IJobPipeline> jobs)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var version = typeof(EngineMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        _meter = new Meter(MeterName, version);
        IEnumerable<Measurement<long>> PerJob(Func<PipelineStatus, long> value) =>
            jobs.Select(j => new Measurement<long>(value(j.Status), new KeyValuePair<string, object?>("job", j.Name)));

        _meter.CreateObservableCounter("streamengine_messages_read", () => PerJob(s => s.MessagesIn), description: "Kafka messages read by a job's source");
        _meter.CreateObservableCounter("streamengine_events_decoded", () => PerJob(s => s.Events), description: "Messages decoded into valid events");
        _meter.CreateObservableCounter("streamengine_events_dead_lettered", () => PerJob(s => s.DeadLettered), description: "Messages sent to the dead-letter topic");
        _meter.CreateObservableCounter("streamengine_events_late", () => PerJob(s => s.Late), description: "Events later than the allowed lateness, sent to the late topic");
        _meter.CreateObservableCounter("streamengine_sink_rows_written", () => PerJob(s => s.ResultRows), description: "Result rows written to ClickHouse");
        _meter.CreateObservableCounter("streamengine_sink_failed_attempts", () => PerJob(s => s.FailedWrites), description: "ClickHouse writes that failed and were retried");
        _meter.CreateObservableGauge("streamengine_consumer_lag_messages", () => PerJob(s => s.Lag), description: "Messages not yet read, over the job's assigned partitions");
        _meter.CreateObservableGauge("streamengine_build_info", () => new Measurement<long>(1, new KeyValuePair<string, object?>("version", version)), description: "The running build");
    }

    public void Dispose() => _meter.Dispose();
}
