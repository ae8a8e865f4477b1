using Confluent.Kafka;

namespace StreamEngine.TestUtilities;

/// <summary>
/// Reads every record of a topic on any cluster (the in-process fixture's or a <c>kafka serve</c> child's): each
/// partition from its start to its high watermark, in offset order within a partition.
/// </summary>
public static class TopicReader
{
    /// <summary>
    /// Waits until the partitions' high watermarks add up to at least <paramref name="atLeast"/> (throws if they do not
    /// within <paramref name="patience"/>), then hands each record up to those watermarks to <paramref name="onRecord"/>,
    /// without keeping them: a topic of millions of records is read in constant memory.
    /// </summary>
    public static long ReadToEnd(string bootstrap, string topic, long atLeast, TimeSpan patience, Action<ConsumeResult<byte[], byte[]>> onRecord)
    {
        ArgumentNullException.ThrowIfNull(onRecord);
        var config = new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = $"read-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        };
        // librdkafka's default of 1000 ms throttles every consumer on the embedded cluster to about a fifth of its pace.
        config.Set("fetch.queue.backoff.ms", "100");
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Select(p => new TopicPartition(topic, p.PartitionId)).ToList();
        var deadline = DateTime.UtcNow + patience;
        Dictionary<TopicPartition, long> ends;
        while (true)
        {
            ends = partitions.ToDictionary(p => p, p => consumer.QueryWatermarkOffsets(p, TimeSpan.FromSeconds(10)).High.Value);
            if (ends.Values.Sum() >= atLeast)
            {
                break;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"{topic}: {ends.Values.Sum()} records after {patience}, fewer than the {atLeast} expected");
            }

            Thread.Sleep(100);
        }

        var read = 0L;
        var unread = ends.Where(e => e.Value > 0).Select(e => e.Key).ToHashSet();
        consumer.Assign(partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning)));
        var readDeadline = DateTime.UtcNow + patience;
        while (unread.Count > 0 && DateTime.UtcNow < readDeadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is not { } result)
            {
                continue;
            }

            if (!result.IsPartitionEOF && result.Offset.Value < ends[result.TopicPartition])
            {
                onRecord(result);
                read++;
            }

            if (result.IsPartitionEOF ? result.Offset.Value >= ends[result.TopicPartition] : result.Offset.Value + 1 >= ends[result.TopicPartition])
            {
                unread.Remove(result.TopicPartition);
            }
        }

        consumer.Close();
        return unread.Count == 0 ? read : throw new TimeoutException($"{topic}: partitions {string.Join(", ", unread.Select(p => p.Partition.Value))} not read to their end within {patience}");
    }
}
