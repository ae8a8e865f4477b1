using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using StreamEngine.AdEvents;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Running;
using StreamEngine.Kafka;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine generate</c>: sends realistic ad traffic to a Kafka topic, at a target rate or as fast as it
/// can, and optionally writes the <c>ads.campaign_minute</c> rows the engine must produce from it.
/// </summary>
public static class GenerateCommand
{
    /// <summary>Messages per auction on average (bid plus the share that wins, renders, is clicked, converts).</summary>
    private const double MessagesPerAuction = 1.4;

    /// <summary>What <c>generate</c> was asked.</summary>
    public sealed record Request(
        string? Bootstrap, string Topic, int? Events, int? Rate, int Seed, int Campaigns, double Duplicates, double Late, double Malformed, string? Truth, string? Key);

    public static Command Create()
    {
        const string name = "generate";
        var bootstrap = CliOptions.Text("--bootstrap", "the Kafka bootstrap servers (required)", "HOST:PORT");
        var topic = CliOptions.Text("--topic", "the topic to send to (default ad-events)", "NAME");
        var events = CliOptions.OptionalWholeNumber(name, "--events", "how many messages to send (required)", 1, int.MaxValue);
        var rate = CliOptions.OptionalWholeNumber(name, "--rate", "messages per second (default: as fast as the brokers take them)", 1, 10_000_000);
        var seed = CliOptions.WholeNumber(name, "--seed", "the traffic's random seed: the same seed sends the same events", 1, int.MinValue, int.MaxValue);
        var campaigns = CliOptions.WholeNumber(name, "--campaigns", "how many campaigns", 200, 1, 1_000_000);
        var duplicates = CliOptions.Fraction(name, "--duplicates", "the share of events sent twice", 0.5);
        var late = CliOptions.Fraction(name, "--late", "the share of events sent late", 0.5);
        var malformed = CliOptions.Fraction(name, "--malformed", "the share of malformed messages", 0.5);
        var truth = CliOptions.Text("--truth", "write the expected ads.campaign_minute rows to this file", "FILE");
        var key = CliOptions.Text("--key", "the message key: campaign (the default) or event-id", "campaign|event-id");
        var command = new Command(name, "send realistic ad traffic to Kafka") { bootstrap, topic, events, rate, seed, campaigns, duplicates, late, malformed, truth, key };
        command.SetAction((parse, _) => RunAsync(new Request(parse.GetValue(bootstrap), parse.GetValue(topic) ?? "ad-events", parse.GetValue(events), parse.GetValue(rate),
            parse.GetValue(seed), parse.GetValue(campaigns), parse.GetValue(duplicates), parse.GetValue(late), parse.GetValue(malformed), parse.GetValue(truth), parse.GetValue(key)),
            Console.Error));
        return command;
    }

    public static async Task<int> RunAsync(Request request, TextWriter progress)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(progress);
        var bootstrap = request.Bootstrap ?? throw new UsageException("generate: --bootstrap is required (the Kafka bootstrap servers)");
        var topic = request.Topic;
        var events = request.Events ?? throw new UsageException("generate: --events is required (how many messages to send)");
        var rate = request.Rate ?? 0;
        var options = new TrafficOptions
        {
            Seed = request.Seed,
            Campaigns = request.Campaigns,
            DuplicateFraction = request.Duplicates,
            LateFraction = request.Late,
            MalformedFraction = request.Malformed,
            KeyByEventId = request.Key switch
            {
                null or "campaign" => false,
                "event-id" => true,
                var other => throw new UsageException($"generate: --key must be campaign (the default) or event-id, not '{other}'"),
            },
            // At a target rate event time keeps pace with the clock; flat out, the stream is as dense as a busy exchange.
            AuctionsPerSecond = rate > 0 ? rate / MessagesPerAuction : 5_000,
        };
        var truthPath = request.Truth;

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        var summary = await SendAsync(bootstrap, topic, events, rate, options, truthPath, progress, cancel.Token);
        await progress.WriteLineAsync(summary.ToString());
        return summary.Failed > 0 ? 1 : 0;
    }

    private static async Task<Summary> SendAsync(string bootstrap, string topic, int total, int rate, TrafficOptions options, string? truthPath, TextWriter progress, CancellationToken cancel)
    {
        var truth = truthPath is null ? null : new CampaignMinuteTruth();
        var summary = new Summary(total);
        var failures = 0L;
        string? firstFailure = null;
        using var producer = KafkaClients.HighThroughputProducer(bootstrap, "streamengine-generate", rate > 0 ? KafkaClients.PacedLinger : null);
        var watch = Stopwatch.StartNew();
        ProgressTask? bar = null;
        Task Send() => Task.Run(() => TrafficSender.Send(producer, topic, new TrafficGenerator(options).Messages().Take(total), rate, cancel,
            sent: message =>
            {
                summary.Count(message.Kind);
                truth?.Add(message);
                bar?.Value = summary.Sent;
            },
            delivered: report =>
            {
                if (report.Error.IsError)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstFailure, report.Error.Reason, null);
                }
            }), CancellationToken.None);

        // A progress bar with the rate and time left on a terminal (Spectre.Console, on standard error); the summary alone otherwise.
        if (Console.IsErrorRedirected)
        {
            await Send();
        }
        else
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(progress) });
            await console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    bar = context.AddTask($"sending to {topic}", maxValue: total);
                    await Send();
                    bar.Value = summary.Sent;
                });
        }

        var unflushed = producer.Flush(TimeSpan.FromMinutes(2));
        summary.Failed = Interlocked.Read(ref failures) + unflushed;
        summary.FirstFailure = firstFailure ?? (unflushed > 0 ? $"{unflushed} messages were still undelivered after two minutes" : null);
        summary.Elapsed = watch.Elapsed;
        if (truth is not null && truthPath is not null)
        {
            await using var file = File.Create(truthPath);
            truth.WriteJsonEachRow(file);
            summary.TruthRows = truth.Rows().Count;
        }

        return summary;
    }

    private sealed class Summary(int total)
    {
        public long Sent { get; private set; }

        public long Valid { get; private set; }

        public long Duplicates { get; private set; }

        public long Late { get; private set; }

        public long Malformed { get; private set; }

        public long Failed { get; set; }

        public string? FirstFailure { get; set; }

        public int TruthRows { get; set; } = -1;

        public TimeSpan Elapsed { get; set; }

        public void Count(MessageKind kind)
        {
            Sent++;
            switch (kind)
            {
                case MessageKind.Valid: Valid++; break;
                case MessageKind.Duplicate: Duplicates++; break;
                case MessageKind.Late: Late++; break;
                default: Malformed++; break;
            }
        }

        public override string ToString() => string.Concat(
            FormattableString.Invariant($"sent {Sent:N0} of {total:N0} messages in {Elapsed.TotalSeconds:F1} s ({Sent / Math.Max(Elapsed.TotalSeconds, 1e-9):N0} msg/s): "),
            FormattableString.Invariant($"{Valid:N0} valid, {Duplicates:N0} duplicates, {Late:N0} late, {Malformed:N0} malformed"),
            TruthRows >= 0 ? FormattableString.Invariant($"; truth: {TruthRows:N0} campaign-minute rows") : "",
            Failed > 0 ? FormattableString.Invariant($"; {Failed:N0} NOT DELIVERED: {FirstFailure}") : "; all delivered");
    }
}
