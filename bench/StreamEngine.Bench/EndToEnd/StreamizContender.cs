using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using StreamEngine.AdEvents;
using Streamiz.Kafka.Net;
using Streamiz.Kafka.Net.SerDes;
using Streamiz.Kafka.Net.Stream;
using Streamiz.Kafka.Net.Table;

namespace StreamEngine.Bench.EndToEnd;

/// <summary>
/// The same aggregation on Streamiz.Kafka.Net 1.8.2 (the .NET port of Kafka Streams), written as its documentation
/// shows: a stream of the topic, values through a SerDes, <c>GroupByKey</c> (messages are keyed by campaign),
/// <c>WindowedBy(TumblingWindowOptions.Of(1 min))</c>, <c>Aggregate</c> into a materialized window store (RocksDB, its
/// default, or in memory with caching), the updates to a null sink. One stream thread (two hit rebalance errors on
/// the embedded cluster); the store's changelog topic is created beforehand by the harness (the mock has no Admin
/// API). Event time is the record timestamp, which the preload sets to the event's time. Values are decoded with
/// the engine's decoder, so both sides pay the same for parsing.
/// </summary>
internal static class StreamizContender
{
    public const string StoreName = "campaign-minute";

    /// <summary>The changelog topic Kafka Streams names after the application and the store.</summary>
    public static string ChangelogTopic(string applicationId) => $"{applicationId}-{StoreName}-changelog";

    /// <param name="target">The preloaded topic.</param>
    /// <param name="inMemory">In-memory window store with caching; otherwise RocksDB.</param>
    /// <param name="applicationId">New for each run (its group and changelog), so no run resumes another's state.</param>
    public static async Task<RunResult> RunAsync(RunTarget target, bool inMemory, string applicationId)
    {
        var stateDir = Directory.CreateTempSubdirectory("streamiz-state").FullName;
        var config = new StreamConfig<StringSerDes, ByteArraySerDes>
        {
            ApplicationId = applicationId,
            BootstrapServers = target.Bootstrap,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            NumStreamThreads = 1,
            StateDir = stateDir,
            FetchQueueBackoffMs = 100, // as for every contender (DESIGN.md)
            SessionTimeoutMs = 6_000,  // the mock finishes a classic join after the session timeout
            Logger = NullLoggerFactory.Instance,
        };

        var clock = new RunClock();
        long seen = 0, updates = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new StreamBuilder();
        var windows = builder.Stream<string, AdEventOrInvalid, StringSerDes, AdEventSerDes>(target.Topic)
            .Peek((_, _, _) =>
            {
                if (seen++ == 0)
                {
                    clock.First();
                }

                if (seen == target.Messages)
                {
                    clock.Last();
                    done.TrySetResult();
                }
            })
            .Filter((_, value, _) => value.Valid)
            .GroupByKey()
            .WindowedBy(TumblingWindowOptions.Of(TimeSpan.FromMinutes(1)));
        var store = inMemory
            ? InMemoryWindows.As<string, CampaignTotals, StringSerDes, CampaignTotalsSerDes>(StoreName).WithCachingEnabled(CacheSize.OfMb(64))
            : RocksDbWindows.As<string, CampaignTotals, StringSerDes, CampaignTotalsSerDes>(StoreName);
        windows.Aggregate(() => new CampaignTotals(), (_, value, sum) => sum.Add(value.Event), store)
            .ToStream()
            .Foreach((_, _, _) => updates++);

        using var stream = new KafkaStream(builder.Build(), config);
        await stream.StartAsync();
        var finished = await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromMinutes(15)));
        stream.Dispose();
        Directory.Delete(stateDir, recursive: true);
        return finished != done.Task
            ? throw new TimeoutException($"Streamiz processed {seen:N0} of {target.Messages:N0} messages in 15 minutes")
            : clock.Result(inMemory ? "streamiz-memory" : "streamiz-rocksdb", seen, $"{updates:N0} window updates emitted");
    }

    /// <summary>A decoded event, or a marker for a message the decoder refused (filtered out, as a dead letter would be).</summary>
    internal readonly record struct AdEventOrInvalid(AdEvent Event, bool Valid);

    internal sealed class AdEventSerDes : AbstractSerDes<AdEventOrInvalid>
    {
        private readonly AdEventDecoder _decoder = new(new SymbolTable());

        public override AdEventOrInvalid Deserialize(byte[] data, SerializationContext context) =>
            _decoder.TryDecode(data, out var e, out _) ? new AdEventOrInvalid(e, true) : default;

        public override byte[] Serialize(AdEventOrInvalid data, SerializationContext context) => throw new NotSupportedException("the benchmark only reads events");
    }

    internal sealed class CampaignTotalsSerDes : AbstractSerDes<CampaignTotals>
    {
        public override CampaignTotals Deserialize(byte[] data, SerializationContext context) => CampaignTotals.FromBytes(data);

        public override byte[] Serialize(CampaignTotals data, SerializationContext context) => data.ToBytes();
    }
}
