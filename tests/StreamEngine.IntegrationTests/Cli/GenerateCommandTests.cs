using System.Text.Json;
using Confluent.Kafka;
using StreamEngine.AdEvents;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Cli;

/// <summary><c>streamengine generate</c> against the embedded cluster: everything arrives, keyed, and the truth adds up.</summary>
public sealed class GenerateCommandTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Sends_every_message_keyed_by_campaign_and_writes_a_truth_that_matches_the_valid_ones()
    {
        var topic = kafka.CreateTopic("generated", 6);
        using var folder = new TemporaryDirectory();
        var truthFile = folder.File("truth.json");

        using var generate = await StreamEngineCli.RunAsync(Patience, "generate", "--bootstrap", kafka.BootstrapServers, "--topic", topic,
            "--events", "30000", "--seed", "5", "--duplicates", "0.02", "--malformed", "0.01", "--truth", truthFile);

        Assert.True(generate.ExitCode == 0, generate.StandardError);
        Assert.Contains("sent 30,000 of 30,000 messages", generate.StandardError, StringComparison.Ordinal);
        Assert.Contains("all delivered", generate.StandardError, StringComparison.Ordinal);

        var decoder = new AdEventDecoder(new SymbolTable());
        var ids = new HashSet<UInt128>();
        long valid = 0, duplicates = 0, malformed = 0;
        foreach (var message in ReadAll(topic, 30_000))
        {
            if (!decoder.TryDecode(message.Value, out var e, out _))
            {
                malformed++;
                continue;
            }

            Assert.Equal(System.Text.Encoding.UTF8.GetString(message.Key), decoder.Symbols.Name(e.Campaign));
            if (ids.Add(e.Id))
            {
                valid++;
            }
            else
            {
                duplicates++;
            }
        }

        Assert.InRange(malformed, 150, 450);
        Assert.InRange(duplicates, 400, 800);
        var truthRows = (await File.ReadAllLinesAsync(truthFile)).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        var truthEvents = truthRows.Sum(r => r.GetProperty("bids").GetInt64() + r.GetProperty("wins").GetInt64() + r.GetProperty("impressions").GetInt64() +
                                             r.GetProperty("clicks").GetInt64() + r.GetProperty("conversions").GetInt64());
        Assert.Equal(valid, truthEvents);
    }

    [Fact]
    public async Task Missing_or_bad_options_are_named()
    {
        using var noEvents = await StreamEngineCli.RunAsync(Patience, "generate", "--bootstrap", kafka.BootstrapServers);
        using var badFraction = await StreamEngineCli.RunAsync(Patience, "generate", "--bootstrap", kafka.BootstrapServers, "--events", "10", "--late", "0.9");

        Assert.Equal(2, noEvents.ExitCode);
        Assert.Contains("--events is required", noEvents.StandardError, StringComparison.Ordinal);
        Assert.Equal(2, badFraction.ExitCode);
        Assert.Contains("--late must be a fraction from 0 to 0.5", badFraction.StandardError, StringComparison.Ordinal);
    }

    private List<Message<byte[], byte[]>> ReadAll(string topic, int expected)
    {
        var messages = kafka.ReadToEnd(topic, expected, Patience);
        Assert.Equal(expected, messages.Count);
        return messages;
    }
}
