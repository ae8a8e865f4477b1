using Confluent.Kafka;

namespace StreamEngine.Bench;

/// <summary>Checks that the embedded cluster kept everything a run put into a topic.</summary>
internal static class TopicChecks
{
    /// <summary>
    /// The mock keeps ~5 MiB per partition and drops older batches: a figure over dropped data is void. Throws
    /// unless every partition still starts at offset 0 and the topic holds <paramref name="expected"/> messages.
    /// </summary>
    public static void AssertNothingDropped(string bootstrap, string topic, int partitions, long expected)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "watermarks" }).Build();
        long total = 0;
        for (var p = 0; p < partitions; p++)
        {
            var marks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
            if (marks.Low.Value != 0)
            {
                throw new InvalidOperationException($"{topic}[{p}] dropped its first {marks.Low.Value} messages (the mock's ~5 MiB cap): use a smaller --scale");
            }

            total += marks.High.Value;
        }

        if (total != expected)
        {
            throw new InvalidOperationException($"{topic} holds {total} messages, expected {expected}");
        }
    }
}
