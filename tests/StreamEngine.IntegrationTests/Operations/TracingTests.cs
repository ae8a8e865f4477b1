using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Apache.Arrow;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StreamEngine.AdEvents;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Telemetry;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Operations;

/// <summary>
/// Tracing and correlation: messages that carry a W3C <c>traceparent</c> header are linked from the span of the batch
/// they went into; each batch's correlation id is on its ClickHouse inserts (<c>log_comment</c>), its live values, its
/// span and its log lines; <c>tracing.otlp_endpoint</c> exports the spans over OTLP.
/// </summary>
[Collection(ClickHouse.EmbeddedClickHouseCollection.Name)]
public sealed class TracingTests(EmbeddedClickHouseFixture clickHouse)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private static readonly ActivityTraceId Upstream = ActivityTraceId.CreateFromString("4bf92f3577b34da6a3ce929d0e0e4736");

    [Fact]
    public async Task A_batch_s_correlation_id_is_on_its_inserts_live_values_span_and_log_lines_and_its_span_links_the_upstream_trace()
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = Produce(kafka, "traced", 3_000);
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == EngineTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var lines = new ConcurrentQueue<string>();
        var log = EngineLog.Create(lines.Enqueue, json: true, LogLevel.Debug, secrets: []);
        var database = clickHouse.CreateDatabase("traced");
        var settings = EngineSettings.Load([$"kafka.bootstrap={kafka.BootstrapServers}", $"kafka.topic={topic}", $"clickhouse.database={database}"], new Dictionary<string, string>());
        var store = new RecordingStore(new EmbeddedStore(clickHouse.Store, ownsConnection: false));
        var live = new RecordingLiveSink();

        var pipeline = await JobCatalog.StartAsync(new AdMetricsJob(), settings, store, log, forgetPositions: false, CancellationToken.None, live);
        await using (pipeline)
        {
            Assert.Null(await pipeline.RunAsync(TimeSpan.FromSeconds(1), CancellationToken.None).WaitAsync(Patience));
        }

        var resultInserts = store.Inserts.Where(i => i.Table.EndsWith(".campaign_minute_results", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(resultInserts);
        Assert.All(resultInserts, i => Assert.Matches("^[0-9a-f]{16}$", i.LogComment));
        var batchIds = resultInserts.Select(i => i.LogComment!).ToHashSet();
        // Every live value names a batch whose results went to ClickHouse under the same id.
        Assert.NotEmpty(live.Updates);
        Assert.All(live.Updates, u => Assert.Contains(u.CorrelationId!, batchIds));
        // Every checkpoint of this job logs a debug line, in JSON, with its id; every batch written is among them.
        var logged = lines.Select(l => JsonDocument.Parse(l).RootElement)
            .Where(l => l.GetProperty("LogLevel").GetString() == "Debug" && l.GetProperty("Message").GetString()!.StartsWith("checkpoint:", StringComparison.Ordinal))
            .Select(l => l.GetProperty("State").GetProperty("correlation_id").GetString()!)
            .ToHashSet();
        Assert.Subset(logged, batchIds);
        // An ActivityListener is process-wide: it also hears the jobs of tests running beside this one. Only the spans
        // of this job's checkpoints (by the ids in its own log, random per checkpoint) are looked at, so theirs cannot
        // pass or fail this test; to them the listener only means their spans are recorded.
        var checkpoints = spans.Where(s => s.OperationName == "checkpoint ad-metrics" && s.GetTagItem("streamengine.correlation_id") is string id && logged.Contains(id)).ToList();
        // Each checkpoint has its span, once; one links the upstream trace of the messages' traceparent headers.
        Assert.Equal(logged.Order(StringComparer.Ordinal), checkpoints.Select(s => (string)s.GetTagItem("streamengine.correlation_id")!).Order(StringComparer.Ordinal));
        Assert.Contains(checkpoints, s => s.Links.Any(l => l.Context.TraceId == Upstream));
    }

    [Fact]
    public async Task Run_exports_its_spans_over_OTLP_with_the_links_to_the_upstream_trace()
    {
        using var kafka = EmbeddedKafkaFixture.Start(new StreamEngine.Kafka.Embedded.EmbeddedKafkaOptions { Brokers = 1 });
        var topic = Produce(kafka, "otlp", 2_000);
        var bodies = new ConcurrentQueue<byte[]>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        await using var collector = builder.Build();
        collector.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            bodies.Enqueue(body.ToArray());
            return Results.Bytes([], "application/x-protobuf");
        });
        await collector.StartAsync();
        var url = collector.Urls.First();

        using var folder = new TemporaryDirectory("streamengine-otlp");
        using var run = await StreamEngineCli.RunAsync(Patience, "run", "--job", "ad-metrics", "--until-idle", "1",
            "--set", $"kafka.bootstrap={kafka.BootstrapServers}", "--set", $"kafka.topic={topic}", "--set", $"clickhouse.path={folder.File("store")}",
            "--set", "clickhouse.http.port=0", "--set", $"tracing.otlp_endpoint={url}/v1/traces");
        Assert.True(run.ExitCode == 0, run.StandardError);

        // OTLP/HTTP protobuf: the span names are strings and the linked trace id is its 16 raw bytes.
        var all = bodies.SelectMany(b => b).ToArray();
        Assert.True(all.Length > 0, "no OTLP export arrived");
        var upstream = Convert.FromHexString(Upstream.ToHexString());
        Assert.True(all.AsSpan().IndexOf(Encoding.UTF8.GetBytes("checkpoint ad-metrics")) >= 0, "the checkpoint spans were not exported");
        Assert.True(all.AsSpan().IndexOf(upstream) >= 0, "the link to the upstream trace was not exported");
    }

    /// <summary>A topic with generated traffic, every tenth message carrying the upstream trace's traceparent.</summary>
    private static string Produce(EmbeddedKafkaFixture kafka, string prefix, int count)
    {
        var topic = kafka.CreateTopic(prefix, 2);
        using var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build();
        var i = 0;
        foreach (var message in new TrafficGenerator(new TrafficOptions { Seed = 31 }).Messages().Take(count))
        {
            var headers = i++ % 10 == 0 ? new Headers { { "traceparent", Encoding.ASCII.GetBytes($"00-{Upstream.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01") } } : null;
            producer.Produce(topic, new Message<string, byte[]> { Key = message.Key, Value = message.Value, Headers = headers });
        }

        producer.Flush(Patience);
        return topic;
    }

    private sealed class RecordingStore(IClickHouseStore inner) : IClickHouseStore
    {
        public ConcurrentQueue<(string Table, string? LogComment)> Inserts { get; } = new();

        public string Description => inner.Description;

        public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default) => inner.ExecuteAsync(sql, cancellationToken);

        public Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default) => inner.QueryAsync(sql, cancellationToken);


        public Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default) => inner.QueryJsonRowsAsync(sql, cancellationToken);

        public Task InsertAsync(string table, RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default)
        {
            Inserts.Enqueue((table, logComment));
            return inner.InsertAsync(table, batch, deduplicationToken, logComment, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class RecordingLiveSink : ILiveSink
    {
        public ConcurrentQueue<LiveUpdate> Updates { get; } = new();

        public void Offer(LiveUpdate update) => Updates.Enqueue(update);

        public void Alert(string subject, string key, byte[] json)
        {
        }
    }
}
