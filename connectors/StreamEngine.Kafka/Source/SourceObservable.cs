using System.Reactive.Linq;
using StreamEngine.Core.AdEvents;
using StreamEngine.Core.Events;

namespace StreamEngine.Kafka.Source;

/// <summary>The source as the core's input: one <c>OnNext</c> per polled batch.</summary>
public static class SourceObservable
{
    /// <summary>
    /// Starts the source and emits its batches; an assignment emits an empty batch per new partition, so the
    /// watermark knows the partition before its first event (a partition not yet read holds event time back instead
    /// of being skipped); a revocation runs <paramref name="onRevoked"/> (flush there, while the partitions' state is
    /// still in the pipeline), then emits a revoked marker per partition, before the revocation is acknowledged.
    /// Completes when the source stops; errors with the reason when it fails.
    /// </summary>
    /// <param name="source">The source; started on subscription.</param>
    /// <param name="onRevoked">Runs before a revocation is acknowledged.</param>
    /// <param name="waitForRoom">
    /// Awaited before each batch is handed on; a sink that is behind (ClickHouse down) holds it, the source's channel
    /// fills and the source pauses its partitions: back-pressure instead of buffering without bound.
    /// </param>
    public static IObservable<EventBatch<AdEvent>> ToObservable(this KafkaAdEventSource source, Action<PartitionsRevoked>? onRevoked = null, Func<CancellationToken, Task>? waitForRoom = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Observable.Create<EventBatch<AdEvent>>(async (observer, cancel) =>
        {
            source.Start();
            try
            {
                await foreach (var signal in source.Signals.ReadAllAsync(cancel))
                {
                    switch (signal)
                    {
                        case EventsPolled polled:
                            if (waitForRoom is not null)
                            {
                                await waitForRoom(cancel);
                            }

                            observer.OnNext(polled.Batch);
                            break;
                        case PartitionsAssigned assigned:
                            foreach (var (partition, start) in assigned.StartOffsets)
                            {
                                observer.OnNext(new EventBatch<AdEvent>(partition, ReadOnlyMemory<AdEvent>.Empty, start));
                            }

                            break;
                        case PartitionsRevoked revoked:
                            // Flush (checkpoint) while the partitions' state is still here, then let it go.
                            onRevoked?.Invoke(revoked);
                            foreach (var partition in revoked.Partitions)
                            {
                                observer.OnNext(EventBatch.Revoked<AdEvent>(partition));
                            }

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
