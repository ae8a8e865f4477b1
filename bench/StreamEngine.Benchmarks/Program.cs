using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

if (args is ["state-memory"])
{
    StreamEngine.Benchmarks.StateMemory.Print();
    return;
}

// Micro-benchmarks. `--short` (the default for bench/micro.sh): 1 warm-up, 5 iterations, a few minutes in all.
var isShort = args.Contains("--short");
var rest = args.Where(a => a != "--short").ToArray();
var config = DefaultConfig.Instance;
if (isShort)
{
    config = config.AddJob(Job.Default.WithWarmupCount(1).WithIterationCount(5).WithLaunchCount(1).WithId("short"));
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, config);
