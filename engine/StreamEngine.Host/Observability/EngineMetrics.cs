using System.Diagnostics.Metrics;
using StreamEngine.Core.Telemetry;
using StreamEngine.Host.Live;
using StreamEngine.Host.Running;
using StreamEngine.Nats;
using StreamEngine.Runtime;
using StreamEngine.Runtime.Ports;

namespace StreamEngine.Host.Observability;

/// <summary>
/// The engine's observable metrics (meter <c>StreamEngine</c>, next to the histograms of <see cref="EngineTelemetry"/>),
/// read from the running jobs and live sinks when a collector asks; the host exports them in Prometheus' format at
/// <c>/metrics</c>. Names follow Prometheus' conventions (prefix <c>streamengine_</c>, base units, counters end in
/// <c>_total</c> once exported); labels are the job, topic, partition, table and sink: never campaign, slot or user ids.
/// </summary>
public sealed class EngineMetrics : IDisposable
{
    private readonly Meter _meter;

    /// <param name="jobs">The running jobs, asked at each collection (jobs may start later).</param>
    /// <param name="fanout">The SignalR hub's fan-out, if any.</param>
    /// <param name="nats">The NATS publisher, if any.</param>
    /// <param name="clock">Now, for event-time freshness.</param>
    public EngineMetrics(Func<IReadOnlyList<IRunningJob>> jobs, HubFanout? fanout = null, LivePublisher? nats = null, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        clock ??= TimeProvider.System;
        _meter = new Meter(EngineTelemetry.Name, EngineTelemetry.Version);
        IEnumerable<Measurement<long>> PerJob(Func<PipelineStatus, long> value) =>
            jobs().Select(j => new Measurement<long>(value(j.Status), Tag("job", j.Name)));
        IEnumerable<Measurement<long>> PerWindow(Func<StreamEngine.Core.Windowing.WindowCounters, long> value) =>
            jobs().Where(j => j.Telemetry.Topic.Length > 0).Select(j => new Measurement<long>(value(j.Telemetry.Window), Tag("job", j.Name)));
        IEnumerable<Measurement<long>> PerPartition(Func<JobTelemetry, int, long?> value) =>
            from job in jobs()
            let telemetry = job.Telemetry
            from partition in telemetry.AssignedPartitions
            let measured = value(telemetry, partition)
            where measured is not null
            select new Measurement<long>(measured.Value, Tag("job", job.Name), Tag("topic", telemetry.Topic), Tag("partition", partition));
        IEnumerable<Measurement<long>> PerTable(Func<WriterCounters, long> value) =>
            from job in jobs()
            from sink in job.Telemetry.Sinks
            select new Measurement<long>(value(sink.Counters), Tag("job", job.Name), Tag("table", sink.Table));

        // Source and decoding.
        _meter.CreateObservableCounter("streamengine_messages_read", () => PerJob(s => s.MessagesIn), description: "Kafka messages read by a job's source");
        _meter.CreateObservableCounter("streamengine_events_decoded", () => PerJob(s => s.Events), description: "Messages decoded into valid events");
        _meter.CreateObservableCounter("streamengine_events_dead_lettered", () => PerJob(s => s.DeadLettered), description: "Messages sent to the dead-letter topic");
        _meter.CreateObservableCounter("streamengine_events_late", () => PerJob(s => s.Late), description: "Events later than the allowed lateness, sent to the late topic");
        _meter.CreateObservableCounter("streamengine_events_duplicate", () => PerWindow(w => w.Duplicates), description: "Events dropped as duplicates of an event id already counted");
        _meter.CreateObservableCounter("streamengine_events_discarded", () => PerWindow(w => w.Discarded),
            description: "Events of a partition this process no longer held (in flight when it moved), discarded: the next owner reads them again");
        _meter.CreateObservableCounter("streamengine_partitions_fenced", () => PerJob(s => s.Fenced),
            description: "Checkpoints that found partitions claimed by a newer assignment (another process) and wrote nothing of them");
        _meter.CreateObservableCounter("streamengine_topic_partition_count_changes", () => PerJob(s => s.PartitionCountChanges),
            description: "Changes of the source topic's partition count seen (keys move between partitions: duplicates across the change can count twice)");
        _meter.CreateObservableCounter("streamengine_messages_lost_to_retention", () => PerJob(s => s.LostToRetention),
            description: "Messages deleted from the topic by retention before the job read them: lost to every reader (each gap is logged as a warning)");
        _meter.CreateObservableCounter("streamengine_source_pauses", () => PerJob(s => s.SourcePauses),
            description: "Times the source paused its partitions because the pipeline had no room (it keeps polling; the partitions resume once there is)");
        _meter.CreateObservableCounter("streamengine_checkpoint_side_output_failures", () => PerJob(s => s.SideOutputFailures),
            description: "Checkpoints not stored because late records were not delivered (retried with backoff)");
        _meter.CreateObservableGauge("streamengine_consumer_lag_messages", () => PerPartition((t, p) => t.PartitionLag.TryGetValue(p, out var lag) ? lag : null),
            description: "Messages not yet read, per assigned partition (from the consumer's statistics)");
        _meter.CreateObservableGauge("streamengine_partition_assigned", () => PerPartition((_, _) => 1), description: "1 for each partition this process holds");

        // Event time and state.
        _meter.CreateObservableGauge("streamengine_watermark_delay_seconds", () =>
                from job in jobs()
                let watermark = job.Telemetry.Window.WatermarkMs
                where job.Telemetry.Topic.Length > 0 && watermark != long.MinValue
                select new Measurement<double>(Math.Max(0, clock.GetUtcNow().ToUnixTimeMilliseconds() - watermark) / 1000.0, Tag("job", job.Name)),
            unit: "s", description: "Now minus the job's watermark (the lowest over its partitions): how far event time lags behind the clock");
        _meter.CreateObservableGauge("streamengine_open_windows", () => PerWindow(w => w.OpenWindows), description: "Windows open in the job's state");
        _meter.CreateObservableGauge("streamengine_dedup_tracked_ids", () => PerWindow(w => w.TrackedIds), description: "Event ids remembered for deduplication");
        _meter.CreateObservableCounter("streamengine_dedup_early_evictions", () => PerWindow(w => w.DedupEarlyEvictions),
            description: "Dedup buckets forgotten before their horizon because a partition held its most ids (a repeat of one of their events is no longer caught)");
        _meter.CreateObservableGauge("streamengine_pending_rows", () => jobs().Where(j => j.Telemetry.Topic.Length > 0).Select(j => new Measurement<long>(j.Telemetry.PendingRows, Tag("job", j.Name))),
            description: "Result rows and accepted events waiting for the next checkpoint to write them (bounded: at the bound the source is held back)");
        _meter.CreateObservableGauge("streamengine_source_held_back", () => jobs().Where(j => j.Telemetry.Topic.Length > 0).Select(j => new Measurement<long>(j.Telemetry.SourceHeldBack ? 1 : 0, Tag("job", j.Name))),
            description: "1 while the job's source waits for the store to take the rows waiting");
        _meter.CreateObservableGauge("streamengine_state_bytes", () => jobs().Where(j => j.Telemetry.Topic.Length > 0).Select(j => new Measurement<long>(j.Telemetry.StateBytes, Tag("job", j.Name))),
            unit: "By", description: "Bytes of the assigned partitions' state at their last checkpoint");

        // Sinks.
        _meter.CreateObservableCounter("streamengine_sink_batches", () => PerTable(c => c.Batches), description: "Batches written to a ClickHouse table");
        _meter.CreateObservableCounter("streamengine_sink_rows", () => PerTable(c => c.Rows), description: "Rows written to a ClickHouse table");
        _meter.CreateObservableCounter("streamengine_sink_errors", () => PerTable(c => c.FailedAttempts), description: "Writes to a ClickHouse table that failed (and were retried)");
        _meter.CreateObservableGauge("streamengine_sink_stalled_seconds", () =>
                from job in jobs()
                from sink in job.Telemetry.Sinks
                select new Measurement<double>(sink.Counters.Stall is { } stall ? Math.Max(0, (clock.GetUtcNow() - stall.Since).TotalSeconds) : 0, Tag("job", job.Name), Tag("table", sink.Table)),
            unit: "s", description: "How long the write under way to a table has been failing and retried (0: writing normally)");
        _meter.CreateObservableCounter("streamengine_sink_rows_written", () => PerJob(s => s.ResultRows), description: "Result rows written to ClickHouse");
        _meter.CreateObservableCounter("streamengine_sink_failed_attempts", () => PerJob(s => s.FailedWrites), description: "ClickHouse writes that failed and were retried");

        // Live fan-out: sent, replaced by a newer value before sending (conflation), dropped.
        _meter.CreateObservableCounter("streamengine_live_messages_published", () => Live(fanout, nats, f => f.Sent, n => n.Published), description: "Live messages sent to NATS or to SignalR clients");
        _meter.CreateObservableCounter("streamengine_live_messages_superseded", () => Live(fanout, nats, f => f.Superseded, n => n.Superseded),
            description: "Live values replaced by a newer value of the same key and window before they were sent (conflation)");
        _meter.CreateObservableCounter("streamengine_live_messages_dropped", () => Live(fanout, nats, f => f.Dropped, n => n.DroppedEvents),
            description: "Live messages not delivered: a slow SignalR client's pending ones when it is disconnected, alerts beyond the NATS queue");
        _meter.CreateObservableCounter("streamengine_live_publish_failures", () => Live(fanout, nats, f => f.Disconnected, n => n.Failures),
            description: "NATS publish rounds that failed (retried), SignalR clients disconnected for not keeping up");
        if (fanout is not null)
        {
            _meter.CreateObservableGauge("streamengine_signalr_connections", () => fanout.Connections, description: "Clients connected to the SignalR hub");
        }

        _meter.CreateObservableGauge("streamengine_build_info", () => new Measurement<long>(1, Tag("version", EngineTelemetry.Version)), description: "The running build");
    }

    public void Dispose() => _meter.Dispose();

    private static KeyValuePair<string, object?> Tag(string name, object value) => new(name, value);

    private static IEnumerable<Measurement<long>> Live(HubFanout? fanout, LivePublisher? nats, Func<FanoutCounters, long> hub, Func<LivePublisherCounters, long> publisher)
    {
        if (fanout is not null)
        {
            yield return new Measurement<long>(hub(fanout.Counters), Tag("sink", "signalr"));
        }

        if (nats is not null)
        {
            yield return new Measurement<long>(publisher(nats.Counters), Tag("sink", "nats"));
        }
    }
}
