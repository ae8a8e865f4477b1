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
}
