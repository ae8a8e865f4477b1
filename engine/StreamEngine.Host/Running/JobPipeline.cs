using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Windowing;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Jobs;
using StreamEngine.Kafka.Source;
using StreamEngine.Runtime;
using StreamEngine.Runtime.Results;

namespace StreamEngine.Host.Running;

/// <summary>
/// Composes an ad job with its ports from the configuration: the Kafka source of <c>kafka.topic</c> (dead letters to
/// <c>TOPIC.dlq</c>), the ClickHouse results store with its checkpoints, the late topic <c>TOPIC.late</c>, and the
/// live sinks. The runtime's <see cref="StreamingJob{TEvent,TKey,TResult}"/> runs it; this class only wires.
/// </summary>
public static class JobPipeline
{
    /// <summary>
    /// Migrates the job's schema, forgets stored positions when asked (<paramref name="forgetPositions"/>: the Kafka
    /// cluster is new) and starts reading; each partition resumes from its checkpoint when it is assigned.
    /// </summary>
    public static async Task<StreamingJob<AdEvent, TKey, TResult>> StartAsync<TKey, TResult>(
        AdJob<TKey, TResult> job, EngineSettings settings, IClickHouseStore store, EngineLog log, bool forgetPositions, CancellationToken cancellationToken,
        ILiveSink? live = null)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(log);
        var jobLog = log.ForJob(job.Name);
        var (kafka, clickHouse, pipeline) = (settings.Kafka, settings.ClickHouse, settings.Pipeline);
        var (bootstrap, topic, database, group) = (kafka.Bootstrap, kafka.Topic, clickHouse.Database, kafka.GroupFor(job.Name));
        var rawEvents = job.WritesRawEvents && clickHouse.RawEvents;
        var migrator = new SchemaMigrator(store, database, clickHouse.Cluster);
        await migrator.ApplyAsync(CheckpointStore.Migrations, cancellationToken);
        await migrator.ApplyJobSchemaAsync(job.Name, job.ResultSchemas, [.. job.Schema, .. rawEvents ? RawEvents.Schema : []], cancellationToken);
        var maxPollInterval = kafka.MaxPollInterval;
        var checkpoints = new CheckpointStore(store, database, job.Name, topic, warn: m => jobLog.Warn(m), inform: jobLog.Info) { ClaimTimeout = maxPollInterval * 0.8 };
        if (forgetPositions)
        {
            await checkpoints.ForgetAsync(cancellationToken);
        }

        await checkpoints.ThrowIfOnlyLegacyCheckpointsAsync(cancellationToken);
        // Keys are interned ids, which differ between runs: snapshots carry the names instead.
        var symbols = new SymbolTable();
        var names = new Utf8Names(symbols);
        var results = new ClickHouseResultsStore<AdEvent, TKey, TResult>(store, database, checkpoints,
            new ResultTables<AdEvent, TKey, TResult>(job.Results(names).ToRows)
            {
                AcceptedEvents = rawEvents ? (RawEvents.Table, events => RawEvents.ToRows(events, names)) : null,
            },
            m => jobLog.Warn(m), jobLog.Info);
        var source = new KafkaSource<AdEvent>(
            new KafkaSourceOptions { BootstrapServers = bootstrap, GroupId = group, Topic = topic, DeadLetterTopic = $"{topic}.dlq", ClientSettings = kafka.ClientSettings,
                MaxPollInterval = maxPollInterval },
            checkpoints, new AdEventFormat(symbols), jobLog.Info) { Warn = m => jobLog.Warn(m) };
        var late = new LateEventWriter<AdEvent>(bootstrap, $"{topic}.late", topic, new AdEventFormat(symbols), kafka.ClientSettings);
        var spec = new StreamingJobSpec<AdEvent, TKey, TResult>(job.Name, (events, context) => job.Build(events, context, symbols))
        {
            Live = rows => job.Live(rows, symbols),
            KeyCodec = job.KeyCodec(symbols),
            Windowing = new WindowOptions
            {
                WatermarkDelay = pipeline.WatermarkDelay,
                AllowedLateness = pipeline.AllowedLateness,
                MaxDedupIds = pipeline.MaxDedupIds,
                EmitAcceptedEvents = rawEvents,
            },
        };
        var options = new StreamingJobOptions { MaxPendingRows = pipeline.MaxPendingRows };
        var running = new StreamingJob<AdEvent, TKey, TResult>(spec, source, results, late, jobLog, options, live);
        running.Start();
        return running;
    }
}
