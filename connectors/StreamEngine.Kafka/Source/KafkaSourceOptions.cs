namespace StreamEngine.Kafka.Source;

/// <summary>How the Kafka source reads ad events. Defaults follow the contract (topic names) and DESIGN.md's measurements.</summary>
public sealed record KafkaSourceOptions
{
    public required string BootstrapServers { get; init; }

    public required string GroupId { get; init; }

    public string Topic { get; init; } = "ad-events";

    public string DeadLetterTopic { get; init; } = "ad-events.dlq";

    /// <summary>Most messages handed over in one poll (split per partition into batches).</summary>
    public int MaxPollMessages { get; init; } = 10_000;

    /// <summary>
    /// Batches (one per partition per poll) waiting for the pipeline before the source pauses its partitions. Generous:
    /// pausing makes librdkafka drop what it has prefetched and fetch it again, so a queue that fills on every
    /// one-second burst of the pipeline (16 batches did, with 12 partitions) costs seconds of latency.
    /// </summary>
    public int MaxBufferedBatches { get; init; } = 256;

    /// <summary>How long one poll waits for the first message.</summary>
    public TimeSpan PollTimeout { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a revocation waits for the pipeline to flush the partitions' results before they go.</summary>
    public TimeSpan RevocationFlushTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the source, when it stops, still waits for dead-letter records not yet delivered (the last checkpoint
    /// has waited for those it covers; the rest lie beyond the stored offsets). While it runs, the
    /// checkpoint waits for them instead (<see cref="KafkaSource{TEvent}.DeliverDeadLetters"/>): no stored offset
    /// passes an undelivered record, and one the source could not deliver before it stopped is read and
    /// dead-lettered again by the next reader.
    /// </summary>
    public TimeSpan DeadLetterDeliveryTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the consumer may go without polling before it leaves its group (librdkafka's <c>max.poll.interval.ms</c>).
    /// The source polls while it holds the pipeline's input back, so only a poll thread stuck in a rebalance comes near it.
    /// </summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Interval of librdkafka statistics (consumer lag per partition).</summary>
    public TimeSpan StatisticsInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Further librdkafka settings passed through as given (security: <c>security.protocol</c>, <c>sasl.*</c>,
    /// <c>ssl.*</c>); values of keys that look secret are never logged.
    /// </summary>
    public IReadOnlyDictionary<string, string> ClientSettings { get; init; } = new Dictionary<string, string>();

}
