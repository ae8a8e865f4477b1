using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.Kafka;

namespace StreamEngine.Host.Running;

/// <summary>Sends generated messages to a topic, paced to a rate (or flat out), for `generate` and `demo`.</summary>
public static class TrafficSender
{
    /// <summary>
    /// Sends <paramref name="messages"/> in order until they run out or <paramref name="cancellation"/> fires, never ahead
    /// of <paramref name="rate"/> messages per second (0: as fast as it can). <paramref name="sent"/> sees each message
    /// after it was handed to the producer; <paramref name="delivered"/> sees each delivery report.
    /// </summary>
    public static void Send(IProducer<byte[], byte[]> producer, string topic, IEnumerable<GeneratedMessage> messages, int rate, CancellationToken cancellation,
        Action<GeneratedMessage>? sent = null, Action<DeliveryReport<byte[], byte[]>>? delivered = null)
    {
        ArgumentNullException.ThrowIfNull(producer);
        ArgumentNullException.ThrowIfNull(messages);
        var watch = Stopwatch.StartNew();
        long count = 0;
        foreach (var message in messages)
        {
            if (cancellation.IsCancellationRequested)
            {
                return;
            }

            if (rate > 0)
            {
                // One reading of the clock: read twice, a thread descheduled between the test and the wait (a loaded
                // machine) waited a negative time, which throws, and the demo's generator stopped.
                var ahead = TimeSpan.FromSeconds((double)count / rate) - watch.Elapsed;
                if (ahead > TimeSpan.FromMilliseconds(2))
                {
                    cancellation.WaitHandle.WaitOne(ahead);
                }
            }

            KafkaClients.ProduceWithBackPressure(producer, topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(message.Key), Value = message.Value }, delivered);
            count++;
            sent?.Invoke(message);
        }
    }
}
