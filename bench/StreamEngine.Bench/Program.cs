using System.Globalization;
using StreamEngine.Bench;

// bench: measured figures for bench/RESULTS.md.
//   dotnet run -c Release --project bench/StreamEngine.Bench -- ceilings [--repetitions 5] [--scale 1.0] [--only kafka|chdb|nats]
//   dotnet run -c Release --project bench/StreamEngine.Bench -- source [--repetitions 3] [--scale 1.0]
//   dotnet run -c Release --project bench/StreamEngine.Bench -- sinks [--repetitions 5] [--scale 1.0]
//   dotnet run -c Release --project bench/StreamEngine.Bench -- latency [--rates 50000,200000] [--seconds 20]
//     (BENCH_SET="key=value;key=value" passes engine settings to the latency run, e.g. clickhouse.raw_events=false)
//   dotnet run -c Release --project bench/StreamEngine.Bench -- e2e [--events 5000000] [--partitions 128] [--repetitions 3] [--contenders raw,hand,...]
//     [--event-time-rate 500000]   (how dense event time is: a 500k events/s stream's by default)
//     [--keying spread|campaign]   (spread: every partition sees every campaign; campaign: the wire contract's keying)
//   dotnet run -c Release --project bench/StreamEngine.Bench -- nexmark [--events 10000000] [--repetitions 5]
//   dotnet run -c Release --project bench/StreamEngine.Bench -- soak [--rate 20000] [--minutes 20] [--partitions 12] [--warm-up 3]
//   dotnet run -c Release --project bench/StreamEngine.Bench -- demo [--minutes 10] [--warm-up 4] [--redirected]
switch (args)
{
    case ["demo", .. var demo]:
        return await DemoSoak.RunAsync(TimeSpan.FromMinutes(Option(demo, "--minutes", 10)), TimeSpan.FromMinutes(Option(demo, "--warm-up", 4)), demo.Contains("--redirected"));
    case ["soak", .. var soak]:
        return await Soak.RunAsync(Option(soak, "--rate", 20_000), TimeSpan.FromMinutes(Option(soak, "--minutes", 20)), Option(soak, "--partitions", 12),
            TimeSpan.FromMinutes(Option(soak, "--warm-up", 3)));
    case ["e2e-kafka"]:
        return StreamEngine.Bench.EndToEnd.E2eHarness.HostKafka();
    case ["e2e-run", .. var run]:
        return await StreamEngine.Bench.EndToEnd.E2eHarness.RunOneAsync(run);
}

if (args.Length == 0 || args[0] is not ("ceilings" or "source" or "sinks" or "latency" or "e2e" or "nexmark"))
{
    Console.Error.WriteLine("usage: bench ceilings|source|sinks|latency|e2e|nexmark [--repetitions N] [--scale F] [--only kafka|chdb|nats] [--rates R,R] [--seconds S] " +
                            "[--events N] [--partitions P] [--contenders a,b] [--keying spread|campaign]");
    return 2;
}

var repetitions = args[0] == "e2e" ? 3 : 5;
long events = args[0] == "nexmark" ? 10_000_000 : 5_000_000;
var partitions = 128;
var eventTimeRate = 500_000.0;
var byCampaign = false;
IReadOnlyList<string> contenders = StreamEngine.Bench.EndToEnd.E2eHarness.AllContenders;
var scale = 1.0;
string? only = null;
int[] rates = [50_000, 200_000];
var seconds = 20;
for (var i = 1; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--repetitions": repetitions = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--scale": scale = double.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--only": only = args[i + 1]; break;
        case "--rates": rates = [.. args[i + 1].Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture))]; break;
        case "--seconds": seconds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--events": events = long.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--partitions": partitions = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--contenders": contenders = args[i + 1].Split(','); break;
        case "--event-time-rate": eventTimeRate = double.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--keying": byCampaign = args[i + 1] switch { "campaign" => true, "spread" => false, var k => throw new ArgumentException($"--keying {k}: campaign or spread") }; break;
        default: Console.Error.WriteLine($"bench: unknown option {args[i]}"); return 2;
    }
}

if (args[0] == "e2e")
{
    Console.Error.WriteLine("end to end: the preloaded topic through each contender...");
    return await StreamEngine.Bench.EndToEnd.E2eHarness.RunAsync(events, partitions, repetitions, contenders, eventTimeRate, byCampaign);
}

var results = new List<Measurement>();
if (args[0] == "nexmark")
{
    Console.Error.WriteLine($"Nexmark q0, q1, q2, q5, q7 on the core, {events:N0} events...");
    results.AddRange(StreamEngine.Bench.Nexmark.Run(events, repetitions));
    only = "none";
}

if (args[0] == "source")
{
    Console.Error.WriteLine("Kafka source into the core...");
    results.AddRange(await SourceThroughput.RunAsync(repetitions, scale));
    only = "none";
}

if (args[0] == "latency")
{
    Console.Error.WriteLine("live metrics latency...");
    results.AddRange(await LiveLatency.RunAsync(rates, TimeSpan.FromSeconds(seconds)));
    only = "none";
}

if (args[0] == "sinks")
{
    Console.Error.WriteLine("ClickHouse sinks...");
    results.AddRange(await SinkThroughput.RunAsync(repetitions, scale));
    only = "none";
}

if (only is null or "kafka")
{
    Console.Error.WriteLine("embedded Kafka...");
    results.AddRange(await KafkaCeilings.RunAsync(repetitions, scale));
}

if (only is null or "chdb")
{
    Console.Error.WriteLine("chDB...");
    results.AddRange(await ChDbCeilings.RunAsync(repetitions, scale));
}

if (only is null or "nats")
{
    Console.Error.WriteLine("NATS...");
    results.AddRange(await NatsCeilings.RunAsync(repetitions, scale));
}

Console.WriteLine("| measurement | median | range | runs | how |");
Console.WriteLine("|---|---|---|---|---|");
foreach (var result in results)
{
    Console.WriteLine(result.ToMarkdownRow());
}

return 0;

static int Option(string[] options, string name, int fallback)
{
    var at = Array.IndexOf(options, name);
    return at >= 0 && at + 1 < options.Length ? int.Parse(options[at + 1], CultureInfo.InvariantCulture) : fallback;
}
