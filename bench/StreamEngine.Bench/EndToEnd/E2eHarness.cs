using System.Globalization;
using System.Text;
using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.Kafka;
using StreamEngine.Kafka.Embedded;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench.EndToEnd;

/// <summary>
/// The end-to-end benchmark: the embedded Kafka cluster in a process of its own, preloaded with N generated events;
/// then each contender reads the whole topic in a process of its own, several times, and the medians and ratios
/// come out as a markdown table. The same bytes for everyone: campaigns, funnel, v1 and v2 events, 1% duplicates and
/// 0.1% malformed messages; messages keyed by campaign but spread evenly over the partitions in runs of 5,000 (the
/// embedded cluster keeps about 5 MiB per partition, and one campaign can carry a quarter of the traffic), so every
/// consumer's state is per partition, as Kafka Streams' tasks are.
/// </summary>
internal static class E2eHarness
{
    /// <summary>Consecutive messages sent to one partition before the next.</summary>
    private const int RunLength = 5_000;

    public static readonly string[] AllContenders = ["raw", "hand", "naive-rx", "streamiz-rocksdb", "streamiz-memory", "engine", "engine-null-sink", "engine-source"];

    /// <param name="events">Messages to preload.</param>
    /// <param name="partitions">Partitions of the topic (enough that none passes the mock's ~5 MiB).</param>
    /// <param name="repetitions">Runs per contender.</param>
    /// <param name="contenders">Which of <see cref="AllContenders"/>; <c>NAME@DLL</c> runs NAME in another build of this harness (before and after a change, same topic).</param>
    /// <param name="eventTimeRate">Events per second of event time: how dense the traffic is (a 500k events/s stream's is 500,000).</param>
    /// <param name="byCampaign">
    /// Each message in its campaign's partition (CRC32 of the key, as librdkafka's default partitioner puts it), as the
    /// wire contract keys them; otherwise spread over all partitions in runs (every partition sees every campaign).
    /// </param>
    public static async Task<int> RunAsync(long events, int partitions, int repetitions, IReadOnlyList<string> contenders, double eventTimeRate, bool byCampaign = false)
    {
        var self = typeof(E2eHarness).Assembly.Location;
        using var kafka = ChildProcess.Start("dotnet", [self, "e2e-kafka"]);
        var banner = await kafka.WaitForOutputAsync(line => line.StartsWith("bootstrap ", StringComparison.Ordinal), TimeSpan.FromMinutes(1));
        var bootstrap = banner["bootstrap ".Length..].Trim();
        async Task CreateTopic(string name, int count)
        {
            await kafka.WriteInputAsync($"topic {name} {count}\n");
            await kafka.WaitForOutputAsync(line => line == $"created {name}", TimeSpan.FromMinutes(1));
        }

        const string topic = "ad-events";
        await CreateTopic(topic, partitions);
        await CreateTopic($"{topic}.dlq", 4);
        await CreateTopic($"{topic}.late", 4);
        var preload = Preload(bootstrap, topic, partitions, events, eventTimeRate, byCampaign);
        var target = new RunTarget(bootstrap, topic, partitions, events);

        var results = new Dictionary<string, List<RunResult>>();
        foreach (var contender in contenders)
        {
            // A contender named again adds runs (before/after interleaved: a,b,a,b with --repetitions 1).
            results.TryAdd(contender, []);
            for (var run = 0; run < repetitions; run++)
            {
                var applicationId = $"bench-{contender.Split('@')[0]}-{run}-{results.Count}";
                if (contender.StartsWith("streamiz", StringComparison.Ordinal))
                {
                    await CreateTopic(StreamizContender.ChangelogTopic(applicationId), partitions);
                }

                // "engine@/path/StreamEngine.Bench.dll": the contender as another build runs it (a before/after on the same topic).
                var (name, build) = contender.Split('@', 2) is [var n, var b] ? (n, b) : (contender, self);
                using var child = await ChildProcess.RunAsync("dotnet",
                    [build, "e2e-run", name, bootstrap, topic, partitions.ToString(CultureInfo.InvariantCulture), events.ToString(CultureInfo.InvariantCulture), applicationId],
                    TimeSpan.FromMinutes(20));
                var result = child.StandardOutput.Split('\n').Select(RunResult.Parse).FirstOrDefault(r => r is not null);
                if (child.ExitCode != 0 || result is null)
                {
                    Console.Error.WriteLine($"  {contender} run {run + 1} failed (exit {child.ExitCode}): {Tail(child.StandardError)}");
                    continue;
                }

                results[contender].Add(result);
                Console.Error.WriteLine(FormattableString.Invariant(
                    $"  {contender} run {run + 1}: {result.EventsPerSecond:N0} events/s, {result.CpuMicrosecondsPerEvent:F2} us CPU/event, peak RSS {result.PeakRssBytes / 1048576.0:N0} MiB; {result.Note}"));
            }
        }

        await kafka.WriteInputAsync("quit\n");
        Console.WriteLine(Table(results, events, partitions, repetitions, preload));
        return results.Values.All(r => r.Count > 0) ? 0 : 1;
    }

    /// <summary>The child process that hosts the embedded cluster: prints its bootstrap, then creates topics asked for on standard input.</summary>
    public static int HostKafka()
    {
        using var cluster = EmbeddedKafkaCluster.Start(new EmbeddedKafkaOptions { Brokers = 1 });
        Console.WriteLine($"bootstrap {cluster.BootstrapServers}");
        while (Console.ReadLine() is { } line && line != "quit")
        {
            var parts = line.Split(' ');
            if (parts is ["topic", var name, var count])
            {
                cluster.CreateTopic(name, int.Parse(count, CultureInfo.InvariantCulture));
                Console.WriteLine($"created {name}");
            }
        }

        return 0;
    }

    /// <summary>A contender's child process: one run, its result on one line.</summary>
    public static async Task<int> RunOneAsync(IReadOnlyList<string> args)
    {
        var target = new RunTarget(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture), long.Parse(args[4], CultureInfo.InvariantCulture));
        var result = await Contenders.RunAsync(args[0], target, args[5]);
        Console.WriteLine(result.ToLine());
        return 0;
    }

    private static string Preload(string bootstrap, string topic, int partitions, long events, double eventTimeRate, bool byCampaign)
    {
        var started = DateTime.UtcNow;
        using var producer = KafkaClients.HighThroughputProducer(bootstrap, "bench-preload");
        var options = new TrafficOptions
        {
            Seed = 42,
            Campaigns = 1000,
            DuplicateFraction = 0.01,
            MalformedFraction = 0.001,
            StartTimeMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 6 * 3_600_000,
            // The generator makes about 2.4 events per auction (bid, win, impression, click, conversion funnel).
            AuctionsPerSecond = eventTimeRate / 2.4,
        };
        long sent = 0, bytes = 0;
        foreach (var message in new TrafficGenerator(options).Messages().Take(checked((int)events)))
        {
            // Runs of consecutive messages per partition, round robin: every partition spans the whole time range,
            // and its batches are large (the mock returns about one batch per partition per fetch, so many small
            // batches, as one message per partition in turn makes, cap every consumer far below its speed).
            var key = Encoding.UTF8.GetBytes(message.Key);
            var partition = new TopicPartition(topic, new Partition(byCampaign
                ? (int)(System.IO.Hashing.Crc32.HashToUInt32(key) % (uint)partitions)
                : (int)(sent / RunLength % partitions)));
            sent++;
            bytes += message.Value.Length;
            KafkaClients.ProduceWithBackPressure(producer, partition, new Message<byte[], byte[]>
            {
                Key = key,
                Value = message.Value,
                Timestamp = new Timestamp(message.TimestampMs, TimestampType.CreateTime),
            });
        }

        if (producer.Flush(TimeSpan.FromMinutes(5)) > 0)
        {
            throw new InvalidOperationException("the preload was not delivered within 5 minutes");
        }

        TopicChecks.AssertNothingDropped(bootstrap, topic, partitions, events);
        var note = FormattableString.Invariant(
            $"{events:N0} messages ({bytes / 1048576.0:N0} MiB of JSON, {bytes / (double)events:N0} bytes each, event time as dense as a {eventTimeRate:N0} events/s stream) in {partitions} partitions ({(byCampaign ? "each campaign in its own partition, by the key's CRC32" : $"spread in runs of {RunLength:N0}")}), none dropped, preloaded in {(DateTime.UtcNow - started).TotalSeconds:N0} s");
        Console.Error.WriteLine($"  {note}");
        return note;
    }

    private static string Table(Dictionary<string, List<RunResult>> results, long events, int partitions, int repetitions, string preload)
    {
        static double Median(IEnumerable<double> values) => Measurement.MedianOf(values);

        double Rate(string contender) => results.TryGetValue(contender, out var runs) ? Median(runs.Select(r => r.EventsPerSecond)) : double.NaN;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Input: {preload}; {repetitions} runs each, one process per run.");
        text.AppendLine();
        text.AppendLine("| contender | events/s (median) | range | CPU per event | peak RSS | vs hand loop | engine is | runs | what it did |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (contender, runs) in results)
        {
            if (runs.Count == 0)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"| {contender} | failed | | | | | | 0 | |");
                continue;
            }

            var rate = Median(runs.Select(r => r.EventsPerSecond));
            text.AppendLine(CultureInfo.InvariantCulture, $"| {contender} | {rate:N0} | {runs.Min(r => r.EventsPerSecond):N0} .. {runs.Max(r => r.EventsPerSecond):N0} | " +
                                                          $"{Median(runs.Select(r => r.CpuMicrosecondsPerEvent)):F2} us | {Median(runs.Select(r => r.PeakRssBytes / 1048576.0)):N0} MiB | " +
                                                          $"{rate / Rate("hand"):F2}x | {Rate("engine") / rate:F2}x | {runs.Count} | {runs[^1].Note} |");
        }

        return text.ToString();
    }

    private static string Tail(string text) => text.Length > 2000 ? text[^2000..] : text;
}
