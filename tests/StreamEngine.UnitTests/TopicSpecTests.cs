using StreamEngine.Kafka.Embedded;

namespace StreamEngine.UnitTests;

public sealed class TopicSpecTests
{
    [Theory]
    [InlineData("ad-events:12", "ad-events", 12)]
    [InlineData("ad-events.dlq:3", "ad-events.dlq", 3)]
    [InlineData("plain", "plain", 1)]
    [InlineData("a_b-c.d:10000", "a_b-c.d", 10000)]
    public void Parses_name_and_partition_count(string text, string name, int partitions)
    {
        var spec = TopicSpec.Parse(text);

        Assert.Equal(name, spec.Name);
        Assert.Equal(partitions, spec.Partitions);
    }

    [Theory]
    [InlineData("t:0")]
    [InlineData("t:10001")]
    [InlineData(":3")]
    [InlineData("has space:3")]
    [InlineData("..:1")]
    public void Rejects_what_Kafka_would_reject(string text)
    {
        Assert.ThrowsAny<ArgumentException>(() => TopicSpec.Parse(text));
    }

    [Fact]
    public void A_partition_count_that_is_not_a_number_is_a_format_error()
    {
        var error = Assert.Throws<FormatException>(() => TopicSpec.Parse("t:-1"));

        Assert.Contains("not a whole number", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_reject_ports_past_the_range_and_duplicate_topics()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddedKafkaOptions { Brokers = 3, FirstPort = 65534 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddedKafkaOptions { Brokers = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new EmbeddedKafkaOptions { Topics = [new("a", 1), new("a", 2)] }.Validate());
        new EmbeddedKafkaOptions { Brokers = 3, FirstPort = 65533 }.Validate();
    }
}
