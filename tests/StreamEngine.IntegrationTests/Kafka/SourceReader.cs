using System.Collections.Concurrent;
using StreamEngine.AdEvents;
using StreamEngine.Core.Events;
using StreamEngine.Kafka.Source;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>
/// Stands in for the pipeline behind a source: drains its signals, keeps what arrived, answers revocations, and
/// remembers per partition where its "results" end, which is where a new owner resumes (as the sink will).
/// </summary>
internal sealed class SourceReader : IResumePositions
{
    private readonly ConcurrentDictionary<int, long> _positions;

    public SourceReader(ConcurrentDictionary<int, long>? sharedPositions = null)
    {
        _positions = sharedPositions ?? new ConcurrentDictionary<int, long>();
    }

    public ConcurrentQueue<(int Partition, AdEvent Event)> Events { get; } = new();

    public ConcurrentQueue<SourceSignal> Signals { get; } = new();

    public long DeadLettered;

    private readonly ConcurrentDictionary<int, bool> _current = new();

    /// <summary>Partitions assigned and not revoked since.</summary>
    public IReadOnlyCollection<int> CurrentPartitions => _current.Keys.Order().ToList();

    private long _generation;

    public IReadOnlyDictionary<int, PartitionStart> Claim(string topic, IReadOnlyList<int> partitions)
    {
        var generation = Interlocked.Increment(ref _generation);
        return partitions.ToDictionary(p => p, p => new PartitionStart(_positions.TryGetValue(p, out var offset) ? offset : -1, generation));
    }

    /// <summary>Reads until the source completes; <paramref name="delayPerBatch"/> makes a slow pipeline.</summary>
    public Task ReadAsync(KafkaSource<AdEvent> source, TimeSpan delayPerBatch = default) => Task.Run(async () =>
    {
        await foreach (var signal in source.Signals.ReadAllAsync())
        {
            Signals.Enqueue(signal);
            switch (signal)
            {
                case EventsPolled<AdEvent> polled:
                    foreach (var e in polled.Batch.Events.Span)
                    {
                        Events.Enqueue((polled.Batch.Partition, e));
                    }

                    Interlocked.Add(ref DeadLettered, polled.DeadLettered);
                    if (polled.Batch.Kind != EventBatchKind.Events)
                    {
                        break;
                    }

                    _positions[polled.Batch.Partition] = polled.Batch.NextOffset;
                    source.MarkProcessed(polled.Batch.Partition, polled.Batch.NextOffset);
                    if (delayPerBatch > TimeSpan.Zero)
                    {
                        await Task.Delay(delayPerBatch);
                    }

                    break;
                case PartitionsAssigned assigned:
                    foreach (var partition in assigned.Starts.Keys)
                    {
                        _current[partition] = true;
                    }

                    break;
                case PartitionsRevoked revoked:
                    foreach (var partition in revoked.Partitions)
                    {
                        _current.TryRemove(partition, out _);
                    }

                    revoked.Flushed.TrySetResult();
                    break;
            }
        }
    });
}
