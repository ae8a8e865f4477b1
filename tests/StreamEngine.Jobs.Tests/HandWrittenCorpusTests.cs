using System.Text;
using StreamEngine.AdEvents;
using StreamEngine.AdEvents.Testing;
using StreamEngine.TestOracles;

namespace StreamEngine.Jobs.Tests;

/// <summary>
/// The hand-written corpus (tests/StreamEngine.TestOracles/Corpora/campaign-minute-edges: duplicates, window edges,
/// the lateness line to the millisecond, escapes, refusals one rule each) against its hand-computed results: the
/// tests' own reference reader and counting, and the engine's decoder with <c>ad-metrics</c> on the job test driver.
/// The same corpus runs end to end through Kafka and ClickHouse in the integration tests.
/// </summary>
public sealed class HandWrittenCorpusTests
{
    private const long Now = 1_790_001_000_000;
    private static readonly HandWrittenCorpus Corpus = HandWrittenCorpus.Load("campaign-minute-edges");

    [Fact]
    public void The_reference_reader_and_counting_give_the_hand_computed_verdicts_and_rows()
    {
        var counting = new ReferenceCounting(Now);
        var verdicts = new List<string>();
        foreach (var message in Corpus.Messages)
        {
            var (counted, late, duplicates) = (counting.Counted.Count, counting.Late.Count, counting.Duplicates);
            counting.Add(0, verdicts.Count, message);
            var refused = ReferenceWireReader.Read(message, Now).Reason;
            verdicts.Add(refused is not null ? $"refused {refused}" : counting.Counted.Count > counted ? "counted" : counting.Late.Count > late ? "late" : "duplicate");
            Assert.True(refused is not null || counting.Counted.Count + counting.Late.Count + counting.Duplicates == counted + late + duplicates + 1);
        }

        Assert.Equal(Corpus.Verdicts, verdicts);
        Assert.Equal(Corpus.CampaignMinutes, counting.CampaignMinutes());
    }

    [Fact]
    public void The_engines_decoder_refuses_what_the_corpus_refuses_with_the_same_reason()
    {
        var decoder = new AdEventDecoder(new SymbolTable(), new AdEventDecoderOptions(), new FixedClock(Now));
        var verdicts = Corpus.Messages.Select(m => decoder.TryDecode(m, out _, out var error) ? "accepted" : $"refused {error.Reason}");

        Assert.Equal(Corpus.Verdicts.Select(v => v.StartsWith("refused ", StringComparison.Ordinal) ? v : "accepted"), verdicts);
    }

    [Fact]
    public void Ad_metrics_on_the_job_test_driver_gives_the_hand_computed_rows_and_late_events()
    {
        var run = new AdJobDriver<int, CampaignMinute>(new AdMetricsJob(), windowing: DriverRuns.Windowing, startMs: Now);
        var decoder = new AdEventDecoder(run.Symbols, new AdEventDecoderOptions(), new FixedClock(Now));
        var ids = new List<UInt128>();
        foreach (var message in Corpus.Messages)
        {
            if (decoder.TryDecode(message, out var e, out _))
            {
                run.Append(0, e with { SourceOffset = ids.Count });
                ids.Add(e.Id);
            }
        }

        run.Run();

        var rows = run.Driver.Store.Rows.Values
            .Select(r => new ExpectedCampaignMinute(r.WindowStartMs, run.Symbols.Name(r.Key), r.Value.Bids, r.Value.Wins, r.Value.Impressions, r.Value.Clicks,
                r.Value.Conversions, r.Value.SpendMicros, r.Value.UniqueUsers))
            .OrderBy(r => r.WindowStartMs).ThenBy(r => r.Campaign, StringComparer.Ordinal);
        Assert.Equal(Corpus.CampaignMinutes, rows);
        var late = Corpus.MessagesJudged("late").Select(m => decoder.TryDecode(m, out var e, out _) ? e.Id : throw new InvalidOperationException(Encoding.UTF8.GetString(m)));
        Assert.Equal(late, run.Driver.Late.Select(l => l.Event.Id));
    }
}
