using System.Reactive.Linq;
using StreamEngine.Core.Events;

namespace StreamEngine.Kafka.Source;

/// <summary>The source as the core's input: one <c>OnNext</c> per polled batch.</summary>
public static class SourceObservable
{
    /// <summary>
    /// Starts the source and emits its batches and the partitions' lifecycle: an assignment emits an
    /// <see cref="EventBatch.Assigned{TEvent}"/> per new partition (its start offset and generation: the aggregation
    /// creates and restores the partition's state there, and the watermark knows the partition before its first
    /// event); a revocation runs <paramref name="onRevoked"/> (the final checkpoint, while the partitions' state is
    /// still in the pipeline) and then emits a revoked marker per partition, before the revocation is acknowledged; a
    /// lost partition emits a lost marker at once and runs nothing before it. After either, <paramref name="onReleased"/>
    /// runs (drop whatever of the partitions still waits to be written). Completes when the source stops; errors
    /// with the reason when it fails.
    /// </summary>
    /// <param name="source">The source; started on subscription.</param>
    /// <param name="onRevoked">Runs before a revocation is acknowledged (not for lost partitions).</param>
    /// <param name="waitForRoom">
    /// Awaited before each batch is handed on; a sink that is behind (ClickHouse down) holds it, the source's channel
    /// fills and the source pauses its partitions: back-pressure instead of buffering without bound.
    /// </param>
    /// <param name="onReleased">Runs once the partitions' markers went through the pipeline (revoked and lost alike).</param>
    public static IObservable<EventBatch<TEvent>> ToObservable<TEvent>(this KafkaSource<TEvent> source, Action<PartitionsRevoked>? onRevoked = null,
        Func<CancellationToken, Task>? waitForRoom = null, Action<PartitionsRevoked>? onReleased = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Observable.Create<EventBatch<TEvent>>(async (observer, cancel) =>
        {
            source.Start();
            try
            {
                await foreach (var signal in source.Signals.ReadAllAsync(cancel))
                {
                    switch (signal)
                    {
                        case EventsPolled<TEvent> polled:
                            if (waitForRoom is not null && polled.Batch.Kind == EventBatchKind.Events)
                            {
                                await waitForRoom(cancel);
                            }

                            observer.OnNext(polled.Batch);
                            break;
                        case PartitionsAssigned assigned:
                            foreach (var (partition, start) in assigned.Starts.OrderBy(s => s.Key))
                            {
                                observer.OnNext(EventBatch.Assigned<TEvent>(partition, start.Offset, start.Generation));
                            }

                            break;
                        case PartitionsRevoked revoked:
                            if (!revoked.Lost)
                            {
                                // Flush (checkpoint) while the partitions' state is still here, then let it go.
                                onRevoked?.Invoke(revoked);
                            }

                            foreach (var partition in revoked.Partitions)
                            {
                                var generation = revoked.Generations[partition];
                                observer.OnNext(revoked.Lost ? EventBatch.Lost<TEvent>(partition, generation) : EventBatch.Revoked<TEvent>(partition, generation));
                            }

                            onReleased?.Invoke(revoked);
                            revoked.Flushed.TrySetResult();
                            break;
                    }
                }

                observer.OnCompleted();
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
            }
            catch (KafkaSourceException e)
            {
                observer.OnError(e);
            }
        });
    }
}
