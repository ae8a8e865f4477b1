using System.Diagnostics;
using System.Globalization;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Running;
using StreamEngine.Jobs;
using StreamEngine.Runtime;
using StreamEngine.TestUtilities;

namespace StreamEngine.Bench;

/// <summary>
/// A long run at a steady rate: the embedded Kafka cluster and the generator each in their own process, the three
/// jobs (ad-metrics, bid-landscape, dynamic-pricing) with NATS, the hub and the embedded ClickHouse in this one,
/// as <c>demo</c> composes them. Every 10 s it samples this process's resident memory, managed heap and CPU, and
/// the jobs' open windows, remembered event ids, pending rows and lag; at the end it prints the samples by minute
/// and the resident memory's slope after the warm-up.
/// </summary>
public static class Soak
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(10);

    private sealed record Sample(TimeSpan At, long RssBytes, long HeapBytes, TimeSpan Cpu, long Events, long OpenWindows, long TrackedIds, long PendingRows, long Lag);

    public static async Task<int> RunAsync(int rate, TimeSpan duration, int partitions, TimeSpan warmUp)
    {
        using var folder = new TemporaryDirectory("streamengine-soak");
        var (kafka, bootstrap) = await KafkaServe.StartAdTopicsAsync(folder, partitions, TimeSpan.FromMinutes(2));
        using var kafkaProcess = kafka;
        await using var natsServer = await NatsServerFixture.StartAsync(jetStream: false);
        var settings = EngineSettings.Load(
            [$"kafka.bootstrap={bootstrap}", $"clickhouse.path={folder.File("clickhouse")}", "http.port=0", $"nats.url={natsServer.Url}"],
            new Dictionary<string, string>());
        using var clickHouse = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = folder.File("clickhouse") });
        await using var store = new EmbeddedStore(clickHouse, ownsConnection: false);
        using var stop = new CancellationTokenSource();
        var warnings = new List<string>();
        var log = EngineLog.To(line =>
        {
            if (line.Contains(" warn ", StringComparison.Ordinal) || line.Contains(" error ", StringComparison.Ordinal))
            {
                lock (warnings)
                {
                    warnings.Add(line);
                }
            }
        });
        await using var services = await EngineServices.StartAsync(settings, settings.HttpOptions, stop.Token);
        foreach (var job in JobCatalog.BuiltIn)
        {
            services.Add(await JobCatalog.StartAsync(job, settings, store, log, forgetPositions: false, stop.Token, services.Live));
        }

        services.Add(await JobCatalog.StartAsync(DynamicPricing.Name, null, settings, store, log, stop.Token, services.Live));
        var running = JobRunner.RunAsync(services.Jobs, new JobRunOptions(), stop.Token);

        var events = (long)(rate * duration.TotalSeconds);
        using var generator = StreamEngineCli.Start("generate", "--bootstrap", bootstrap, "--events", events.ToString(CultureInfo.InvariantCulture),
            "--rate", rate.ToString(CultureInfo.InvariantCulture), "--seed", "5", "--duplicates", "0.01", "--malformed", "0.001");
        Console.Error.WriteLine($"soak: {events:N0} events at {rate:N0}/s over {partitions} partitions for {duration.TotalMinutes:F0} min; a sample every {SampleEvery.TotalSeconds:F0} s");
        // Ctrl-C or SIGTERM ends the soak early, with the table of what was sampled.
        using var interrupted = new CancellationTokenSource();
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Interrupt);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Interrupt);
        var process = Process.GetCurrentProcess();
        var clock = Stopwatch.StartNew();
        var samples = new List<Sample>();
        while (clock.Elapsed < duration && !running.IsCompleted && !interrupted.IsCancellationRequested)
        {
            await Task.WhenAny(Task.Delay(SampleEvery, interrupted.Token).ContinueWith(_ => { }, TaskScheduler.Default), running);
            process.Refresh();
            var telemetry = services.Jobs.Select(j => j.Telemetry).Where(t => t.Topic.Length > 0).ToList();
            var sample = new Sample(clock.Elapsed, process.WorkingSet64, GC.GetTotalMemory(false), process.TotalProcessorTime,
                services.Jobs.First(j => j.Name == AdMetricsJob.JobName).Status.Events, telemetry.Sum(t => t.Window.OpenWindows), telemetry.Sum(t => t.Window.TrackedIds),
                telemetry.Sum(t => t.PendingRows), telemetry.Sum(t => t.PartitionLag.Values.Sum()));
            samples.Add(sample);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{sample.At.TotalSeconds,6:F0} s  rss {sample.RssBytes >> 20,5} MiB  heap {sample.HeapBytes >> 20,5} MiB  cpu {sample.Cpu.TotalSeconds,7:F1} s  events {sample.Events,11:N0}  windows {sample.OpenWindows,7:N0}  ids {sample.TrackedIds,9:N0}  pending {sample.PendingRows,8:N0}  lag {sample.Lag,8:N0}"));
        }

        await stop.CancelAsync();
        var failure = (await running).Failure;
        void Interrupt(System.Runtime.InteropServices.PosixSignalContext signal)
        {
            signal.Cancel = true;
            interrupted.Cancel();
        }

        generator.Kill();
        Print(samples, rate, duration, partitions, warmUp, failure, warnings);
        return failure is null ? 0 : 1;
    }

    private static void Print(List<Sample> samples, int rate, TimeSpan duration, int partitions, TimeSpan warmUp, Exception? failure, List<string> warnings)
    {
        var steady = samples.Where(s => s.At >= warmUp).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Soak: the three jobs at {rate:N0} events/s for {duration.TotalMinutes:F0} min, {partitions} partitions, NATS and the hub on, embedded ClickHouse; warm-up {warmUp.TotalMinutes:F0} min"));
        Console.WriteLine();
        Console.WriteLine("| minute | RSS MiB | managed heap MiB | cores (last minute) | events (ad-metrics) | open windows | dedup ids | pending rows | lag |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        Sample? previous = null;
        foreach (var sample in samples.Where((s, i) => i == samples.Count - 1 || (int)s.At.TotalMinutes != (int)samples[i + 1].At.TotalMinutes))
        {
            var cores = previous is null ? sample.Cpu.TotalSeconds / sample.At.TotalSeconds : (sample.Cpu - previous.Cpu).TotalSeconds / (sample.At - previous.At).TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {sample.At.TotalMinutes:F1} | {sample.RssBytes >> 20} | {sample.HeapBytes >> 20} | {cores:F2} | {sample.Events:N0} | {sample.OpenWindows:N0} | {sample.TrackedIds:N0} | {sample.PendingRows:N0} | {sample.Lag:N0} |"));
            previous = sample;
        }

        if (steady.Count >= 2)
        {
            // Least squares over the steady samples: MiB per minute.
            var xs = steady.Select(s => s.At.TotalMinutes).ToArray();
            var ys = steady.Select(s => (s.RssBytes >> 20) * 1.0).ToArray();
            var slope = Measurement.SlopeOf(xs, ys);
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"After the warm-up: RSS {ys.Min():F0}-{ys.Max():F0} MiB (median {ys.Order().ElementAt(ys.Length / 2):F0}), slope {slope:+0.0;-0.0} MiB/min; " +
                $"open windows at most {steady.Max(s => s.OpenWindows):N0}, dedup ids at most {steady.Max(s => s.TrackedIds):N0}, pending rows at most {steady.Max(s => s.PendingRows):N0}, " +
                $"lag at most {steady.Max(s => s.Lag):N0}; {(steady[^1].Events - steady[0].Events) / (steady[^1].At - steady[0].At).TotalSeconds:N0} events/s through ad-metrics; " +
                $"{(steady[^1].Cpu - steady[0].Cpu).TotalSeconds / (steady[^1].At - steady[0].At).TotalSeconds:F2} cores"));
        }

        Console.WriteLine(failure is null ? $"No job failed; {warnings.Count} warnings logged." : $"A job failed: {failure.Message}");
        foreach (var warning in warnings.TakeLast(5))
        {
            Console.WriteLine($"    {warning}");
        }
    }
}
