using System.Reactive.Concurrency;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Events;
using StreamEngine.Core.Windowing;
using StreamEngine.Runtime.Testing;
using Xunit.Abstractions;

namespace StreamEngine.Core.Tests;

/// <summary>
/// Deterministic simulation of the runtime's guarantee: for every seed, a random schedule of polls, timer ticks,
/// checkpoints, crashes at each step of the checkpoint protocol, orderly moves, take-overs the old owner is not told
/// of (it keeps reading and checkpointing until it learns it lost the partition), lost partitions, crashed processes
/// and a failing store or dead-letter topic, over the same input, must end with the results of a crash-free run: every row, version and
/// late event. A failing seed is printed with the schedule's tail, and <see cref="A_single_seed_replays"/> replays it.
/// </summary>
public sealed class RuntimeSimulationTests(ITestOutputHelper output)
{
    private const int Partitions = 4;
    private const int Seeds = 2000;

    private static readonly WindowOptions Options = WindowedAggregationPropertyTests.Options with { EmitInterval = TimeSpan.FromSeconds(1) };

    [Fact]
    public void Two_thousand_seeded_schedules_end_with_the_results_of_a_crash_free_run()
    {
        var failures = new List<string>();
        for (var seed = 1; seed <= Seeds && failures.Count < 3; seed++)
        {
            try
            {
                Run(seed);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures.Add($"seed {seed}: {e.Message}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void A_single_seed_replays(int seed)
    {
        var log = Run(seed);
        output.WriteLine(string.Join('\n', log.TakeLast(40)));
    }

    [Fact]
    public void A_checkpoint_whose_dead_letters_cannot_be_delivered_stores_no_offsets_and_the_next_one_does()
    {
        var input = Input(3);
        var driver = Driver(input);
        using var process = driver.Start();
        process.Assign(0);
        process.Poll(0, 50);
        driver.Clock.AdvanceBy(Options.EmitInterval);
        Assert.True(process.Checkpoint());
        var stored = driver.Store.Checkpoints[0].NextOffset;

        // The dead-letter topic is down: the results of the next events may be written, their offsets are not.
        process.Poll(0, int.MaxValue);
        driver.Clock.AdvanceBy(Options.EmitInterval);
        driver.FailNextSideOutputDeliveries(2);
        Assert.False(process.Checkpoint());
        Assert.False(process.Checkpoint());
        Assert.Equal(stored, driver.Store.Checkpoints[0].NextOffset);

        // Back up: the next checkpoint covers everything read.
        Assert.True(process.Checkpoint());
        Assert.Equal(input[0].Count, driver.Store.Checkpoints[0].NextOffset);
        Assert.True(stored < input[0].Count, "the first checkpoint should have covered only part of the partition");
    }

    /// <summary>Runs one seed's schedule against the crash-free run; throws with the schedule's tail when they differ.</summary>
    private static List<string> Run(int seed)
    {
        var input = Input(seed);
        var reference = CrashFree(input);
        var schedule = new List<string>();
        try
        {
            var simulated = Simulate(input, seed, schedule);
            AssertSameResults(reference, simulated);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{e.Message}\nschedule (last 30 steps):\n{string.Join('\n', schedule.TakeLast(30))}", e);
        }

        return schedule;
    }

    /// <summary>Each partition's events, with disorder, duplicates and events beyond the lateness, from the core's random scripts.</summary>
    private static List<TestEvent>[] Input(int seed)
    {
        var logs = Enumerable.Range(0, Partitions).Select(_ => new List<TestEvent>()).ToArray();
        foreach (var arrival in Scripts.RandomArrivals(seed, events: 600, partitions: Partitions, keys: 5))
        {
            if (arrival is { Event: { } e, Partition: >= 0 })
            {
                logs[arrival.Partition].Add(e);
            }
        }

        return logs;
    }

    private static JobTestDriver<TestEvent, int, (long Count, long Sum)> Driver(List<TestEvent>[] input)
    {
        var driver = new JobTestDriver<TestEvent, int, (long Count, long Sum)>(Partitions, Pipeline, Scripts.Start);
        for (var p = 0; p < Partitions; p++)
        {
            driver.Append(p, input[p]);
        }

        return driver;
    }

    private static IObservable<WindowOutput<int, (long Count, long Sum), TestEvent>> Pipeline(IObservable<EventBatch<TestEvent>> events, CheckpointHandle checkpoints, IScheduler clock) =>
        events.WithEventTime(e => e.TimestampMs)
            .Deduplicate(e => e.IdHash)
            .KeyBy(e => e.Key)
            .Window(Windows.Tumbling(TimeSpan.FromMinutes(1)))
            .Aggregate(EngineRunner.CountAndSum, Options, clock, checkpoints);

    private static JobTestDriver<TestEvent, int, (long Count, long Sum)> CrashFree(List<TestEvent>[] input)
    {
        var driver = Driver(input);
        var process = driver.Start();
        for (var p = 0; p < Partitions; p++)
        {
            process.Assign(p);
            process.Poll(p, int.MaxValue);
        }

        driver.Clock.AdvanceBy(Options.EmitInterval); // every window's newest value goes out
        Assert.True(process.Checkpoint());
        return driver;
    }

    private static JobTestDriver<TestEvent, int, (long Count, long Sum)> Simulate(List<TestEvent>[] input, int seed, List<string> schedule)
    {
        var random = new Random(seed);
        var driver = Driver(input);
        var processes = new List<JobTestDriver<TestEvent, int, (long Count, long Sum)>.JobProcess>();
        var owners = new Dictionary<int, int>();                  // partition -> the process the group gave it to
        var stale = new List<(int Process, int Partition)>();     // processes that lost a partition and were not told yet
        var crashPoints = Enum.GetValues<CrashPoint>().Where(c => c != CrashPoint.None).ToArray();

        int StartProcess()
        {
            processes.Add(driver.Start());
            schedule.Add($"start process {processes.Count - 1}");
            return processes.Count - 1;
        }

        int AnyLive(int? except = null)
        {
            var live = Enumerable.Range(0, processes.Count).Where(i => !processes[i].Dead && i != except).ToList();
            return live.Count == 0 || (processes.Count(p => !p.Dead) < 3 && random.NextDouble() < 0.15) ? StartProcess() : live[random.Next(live.Count)];
        }

        void Give(int partition, int to)
        {
            // A member is told of a loss before the group gives it the partition again.
            if (stale.Remove((to, partition)))
            {
                processes[to].Lose(partition);
                schedule.Add($"process {to} learns it lost {partition}");
            }

            owners[partition] = to;
            processes[to].Assign(partition);
            schedule.Add($"assign {partition} to {to}");
        }

        void ProcessDied(int process)
        {
            foreach (var partition in owners.Where(o => o.Value == process).Select(o => o.Key).ToList())
            {
                owners.Remove(partition);
            }

            stale.RemoveAll(s => s.Process == process);
        }

        for (var step = 0; step < 250; step++)
        {
            foreach (var partition in Enumerable.Range(0, Partitions).Where(p => !owners.ContainsKey(p)).ToList())
            {
                Give(partition, AnyLive());
            }

            var roll = random.NextDouble();
            var p = random.Next(Partitions);
            var owner = owners[p];
            if (random.NextDouble() < 0.3 && processes.Where(x => !x.Dead).ToList() is { Count: > 0 } live)
            {
                // A batch that was in flight reaches the pipeline, whatever happened to its partition meanwhile.
                var process = processes.IndexOf(live[random.Next(live.Count)]);
                if (processes[process].DeliverInFlight() is { } batch)
                {
                    schedule.Add($"process {process} hands on an in-flight batch of {batch.Partition} (generation {batch.Generation}, {batch.Count} events)");
                }
            }

            if (roll < 0.07)
            {
                var batch = processes[owner].TakeInFlight(p, random.Next(1, 60));
                schedule.Add($"process {owner} takes {batch.Count} events of {p} (generation {batch.Generation}) in flight");
            }
            else if (roll < 0.40)
            {
                // The owner reads on; now and then a stale owner that does not know it lost its partition does too.
                var (reader, partition) = stale.Count > 0 && random.NextDouble() < 0.2 ? stale[random.Next(stale.Count)] : (owner, p);
                var max = random.Next(1, 60);
                processes[reader].Poll(partition, max);
                schedule.Add($"process {reader} polls {partition} ({max})");
            }
            else if (roll < 0.50)
            {
                var ms = random.Next(0, 3000);
                driver.Clock.AdvanceBy(TimeSpan.FromMilliseconds(ms));
                schedule.Add($"clock +{ms} ms");
            }
            else if (roll < 0.65)
            {
                var process = random.NextDouble() < 0.8 ? owner : AnyLive();
                var crash = random.NextDouble() < 0.25 ? crashPoints[random.Next(crashPoints.Length)] : CrashPoint.None;
                var stored = processes[process].Checkpoint(crash);
                schedule.Add($"process {process} checkpoints (crash: {crash}): {(stored ? "stored" : "not stored")}");
                if (processes[process].Dead)
                {
                    ProcessDied(process);
                }
            }
            else if (roll < 0.73)
            {
                var stored = processes[owner].Revoke(p);
                schedule.Add($"revoke {p} from {owner}: final checkpoint {(stored ? "stored" : "not stored")}");
                owners.Remove(p);
                Give(p, AnyLive());
            }
            else if (roll < 0.79)
            {
                // The group moves the partition (the owner's session timed out) before the owner hears of it.
                var thief = AnyLive(except: owner);
                stale.Add((owner, p));
                schedule.Add($"take {p} from {owner} without telling it");
                Give(p, thief);
            }
            else if (roll < 0.84 && stale.Count > 0)
            {
                var (process, partition) = stale[0];
                stale.RemoveAt(0);
                processes[process].Lose(partition);
                schedule.Add($"process {process} learns it lost {partition}");
            }
            else if (roll < 0.89)
            {
                processes[owner].Lose(p);
                schedule.Add($"process {owner} loses {p}");
                owners.Remove(p);
            }
            else if (roll < 0.93)
            {
                processes[owner].Crash();
                schedule.Add($"process {owner} crashes");
                ProcessDied(owner);
            }
            else if (roll < 0.965)
            {
                var count = random.Next(1, 4);
                driver.Store.FailNextWrites(count);
                schedule.Add($"the store fails the next {count} writes");
            }
            else
            {
                var count = random.Next(1, 3);
                driver.FailNextSideOutputDeliveries(count);
                schedule.Add($"the dead-letter topic fails the next {count} checkpoints' deliveries");
            }
        }

        // The faults stop: batches in flight arrive, the stale owners hear the news, every partition is read to its
        // end, and each owner checkpoints.
        foreach (var process in processes.Where(x => !x.Dead))
        {
            while (process.DeliverInFlight() is not null)
            {
            }
        }

        driver.Store.FailNextWrites(0);
        driver.FailNextSideOutputDeliveries(0);
        foreach (var (process, partition) in stale)
        {
            processes[process].Lose(partition);
        }

        foreach (var partition in Enumerable.Range(0, Partitions).Where(p => !owners.ContainsKey(p)).ToList())
        {
            Give(partition, AnyLive());
        }

        schedule.Add("drain");
        foreach (var (partition, owner) in owners)
        {
            processes[owner].Poll(partition, int.MaxValue);
        }

        driver.Clock.AdvanceBy(Options.EmitInterval);
        foreach (var owner in owners.Values.Distinct())
        {
            Assert.True(processes[owner].Checkpoint(), "the drain's checkpoint must be stored");
        }

        return driver;
    }

    private static void AssertSameResults(JobTestDriver<TestEvent, int, (long Count, long Sum)> expected, JobTestDriver<TestEvent, int, (long Count, long Sum)> actual)
    {
        static IEnumerable<string> Rows(JobTestDriver<TestEvent, int, (long Count, long Sum)> driver) =>
            driver.Store.Rows.OrderBy(r => r.Key.Partition).ThenBy(r => r.Key.Key).ThenBy(r => r.Key.Start)
                .Select(r => $"p{r.Key.Partition} k{r.Key.Key} @{r.Key.Start}: v{r.Value.Version} {r.Value.Value}");

        Assert.Equal(Rows(expected), Rows(actual));
        Assert.Equal(expected.Late.Select(l => l.Event.Id).Distinct().Order(), actual.Late.Select(l => l.Event.Id).Distinct().Order());
    }
}
