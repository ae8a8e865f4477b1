namespace StreamEngine.Kafka.Source;

/// <summary>Headers a dead-lettered message carries besides its original ones (the wire contract's DLQ headers).</summary>
public static class DeadLetterHeaders
{
    /// <summary>A stable reason code, e.g. <c>malformed-json</c>, <c>missing-field</c>.</summary>
    public const string Reason = "dlq-reason";

    /// <summary>The reason in words, e.g. which field.</summary>
    public const string Detail = "dlq-detail";

    public const string SourceTopic = "dlq-source-topic";

    public const string SourcePartition = "dlq-source-partition";

    public const string SourceOffset = "dlq-source-offset";

    /// <summary>
    /// Set when the message was too large to be dead-lettered whole: its original length in bytes (the record holds
    /// the first <see cref="MaxValueBytes"/> of it; the whole stays in the source topic at the source offset).
    /// </summary>
    public const string TruncatedFrom = "dlq-truncated-from";

    /// <summary>The most bytes of a message value a dead-letter record carries (below the producer's and brokers' 1 MB defaults, headers included).</summary>
    public const int MaxValueBytes = 512 * 1024;
}
