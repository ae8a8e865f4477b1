namespace StreamEngine.Kafka.Embedded;

/// <summary>How to start an <see cref="EmbeddedKafkaCluster"/>.</summary>
public sealed record EmbeddedKafkaOptions
{
    /// <summary>Number of brokers; their ids are 1..Brokers.</summary>
    public int Brokers { get; init; } = 3;

    /// <summary>Topics created at start (the mock cluster has no CreateTopics admin API).</summary>
    public IReadOnlyList<TopicSpec> Topics { get; init; } = [];

    /// <summary>
    /// When set, broker N listens on FirstPort + N - 1 (through a loopback forwarder, since the mock itself only
    /// binds random ports) and advertises that port in metadata. When null, the mock's random ports are used.
    /// </summary>
    public int? FirstPort { get; init; }

    /// <summary>
    /// Session timeout of KIP-848 consumer groups: how long a member that vanished without leaving keeps its
    /// partitions. Kafka's default is 45 s; shorter makes take-over after a crash quicker on a laptop.
    /// </summary>
    public TimeSpan GroupSessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Heartbeat interval the mock asks KIP-848 consumers to use.</summary>
    public TimeSpan GroupHeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Checks the values, naming the one that is wrong.</summary>
    public void Validate()
    {
        if (Brokers is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(Brokers), Brokers, "brokers must be between 1 and 64");
        }

        if (FirstPort is { } port && (port < 1 || port + Brokers - 1 > 65535))
        {
            throw new ArgumentOutOfRangeException(nameof(FirstPort), port, $"ports {port}..{port + Brokers - 1} must lie within 1..65535");
        }

        if (GroupSessionTimeout <= TimeSpan.Zero || GroupHeartbeatInterval <= TimeSpan.Zero || GroupHeartbeatInterval >= GroupSessionTimeout)
        {
            throw new ArgumentOutOfRangeException(nameof(GroupHeartbeatInterval), "the heartbeat interval must be positive and shorter than the session timeout");
        }

        var duplicate = Topics.GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"topic '{duplicate.Key}' is named twice", nameof(Topics));
        }
    }
}

/// <summary>A topic to create: its name and partition count, written <c>NAME:PARTITIONS</c> on the command line.</summary>
public readonly record struct TopicSpec
{
    public TopicSpec(string name, int partitions)
    {
        if (!IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid Kafka topic name (1-249 characters of a-z, A-Z, 0-9, '.', '_', '-')", nameof(name));
        }

        if (partitions is < 1 or > 10_000)
        {
            throw new ArgumentOutOfRangeException(nameof(partitions), partitions, $"topic '{name}' needs 1..10000 partitions");
        }

        Name = name;
        Partitions = partitions;
    }

    public string Name { get; }

    public int Partitions { get; }

    /// <summary>Parses <c>NAME:PARTITIONS</c>, or a bare <c>NAME</c> for one partition.</summary>
    public static TopicSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            return new TopicSpec(text, 1);
        }

        var countText = text[(colon + 1)..];
        if (!int.TryParse(countText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var partitions))
        {
            throw new FormatException($"'{text}' is not NAME:PARTITIONS (the partition count '{countText}' is not a whole number)");
        }

        return new TopicSpec(text[..colon], partitions);
    }

    public override string ToString() => $"{Name}:{Partitions}";

    private static bool IsValidName(string name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 249 && name is not "." and not ".." &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
