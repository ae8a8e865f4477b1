using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace StreamEngine.Core.Telemetry;

/// <summary>
/// The engine's instruments and activity source, both named <c>StreamEngine</c>: the engine and its connectors
/// record with System.Diagnostics (no exporter dependency); the host exports metrics at <c>/metrics</c> and traces over
/// OTLP. Metric names follow Prometheus' conventions (prefix <c>streamengine_</c>, base units); labels never carry
/// campaign, slot or user ids.
/// </summary>
public static class EngineTelemetry
{
    /// <summary>The name of the engine's meter and activity source.</summary>
    public const string Name = "StreamEngine";

    /// <summary>The build's informational version.</summary>
    public static string Version { get; } =
        typeof(EngineTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>The engine's meter: its instruments are exported as Prometheus metrics.</summary>
    public static Meter Meter { get; } = new(Name, Version);

    /// <summary>Spans: a batch of results from its first event to its checkpoint, sink writes.</summary>
    public static ActivitySource Activities { get; } = new(Name, Version);

    /// <summary>How long a batch took to reach ClickHouse, retries included (label: table).</summary>
    public static Histogram<double> SinkWriteDuration { get; } = Meter.CreateHistogram<double>(
        "streamengine_sink_write_duration_seconds", "s", "Time to write one batch to ClickHouse, retries included");

    /// <summary>How long a checkpoint (results, raw events, then offsets and states) took (label: job).</summary>
    public static Histogram<double> CheckpointDuration { get; } = Meter.CreateHistogram<double>(
        "streamengine_checkpoint_duration_seconds", "s", "Time to write a checkpoint: results, raw events, then the offsets and states they cover");

    /// <summary>
    /// Event time of the newest event a checkpoint covers to the moment its results are stored, per partition
    /// (label: job): end-to-end latency while the job keeps up, and how far behind it is while it replays.
    /// </summary>
    public static Histogram<double> EndToEndLatency { get; } = Meter.CreateHistogram<double>(
        "streamengine_end_to_end_latency_seconds", "s", "From the event time of the newest event a checkpoint covers to its results being stored in ClickHouse");
}
