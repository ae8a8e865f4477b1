using System.Globalization;

namespace StreamEngine.TestOracles;

/// <summary>
/// A corpus written by hand, with its results computed by hand (Corpora/NAME/): <c>messages.jsonl</c>, one message's
/// bytes per line, meant for one partition in that order; <c>verdicts.tsv</c>, what becomes of each line (counted,
/// duplicate, late, or refused with its reason) and why; <c>expected-campaign-minute.tsv</c>, the rows
/// <c>ads.campaign_minute</c> must hold. Lines starting with '#' are comments.
/// </summary>
public sealed class HandWrittenCorpus
{
    private HandWrittenCorpus(string name, IReadOnlyList<byte[]> messages, IReadOnlyList<string> verdicts, IReadOnlyList<ExpectedCampaignMinute> rows)
    {
        Name = name;
        Messages = messages;
        Verdicts = verdicts;
        CampaignMinutes = rows;
    }

    public string Name { get; }

    /// <summary>Each message's bytes, in order.</summary>
    public IReadOnlyList<byte[]> Messages { get; }

    /// <summary>Per message: <c>counted</c>, <c>duplicate</c>, <c>late</c> or <c>refused REASON</c>.</summary>
    public IReadOnlyList<string> Verdicts { get; }

    public IReadOnlyList<ExpectedCampaignMinute> CampaignMinutes { get; }

    /// <summary>The messages whose verdict starts with <paramref name="verdict"/>.</summary>
    public IEnumerable<byte[]> MessagesJudged(string verdict) =>
        Messages.Where((_, i) => Verdicts[i].StartsWith(verdict, StringComparison.Ordinal));

    /// <summary>The refusal reasons, one per refused message, in order.</summary>
    public IEnumerable<string> RefusalReasons =>
        Verdicts.Where(v => v.StartsWith("refused ", StringComparison.Ordinal)).Select(v => v["refused ".Length..]);

    /// <summary>Loads Corpora/<paramref name="name"/>, copied next to this assembly.</summary>
    public static HandWrittenCorpus Load(string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Corpora", name);
        var bytes = File.ReadAllBytes(Path.Combine(folder, "messages.jsonl"));
        var messages = new List<byte[]>();
        for (var start = 0; start < bytes.Length;)
        {
            var end = Array.IndexOf(bytes, (byte)'\n', start);
            end = end < 0 ? bytes.Length : end;
            messages.Add(bytes[start..end]);
            start = end + 1;
        }

        var verdicts = Table(folder, "verdicts.tsv").Select(f => (Line: int.Parse(f[0], CultureInfo.InvariantCulture), Verdict: f[1])).ToList();
        if (!verdicts.Select(v => v.Line).SequenceEqual(Enumerable.Range(1, messages.Count)))
        {
            throw new InvalidDataException($"{name}: verdicts.tsv must give one verdict per message line, 1 to {messages.Count}, in order");
        }

        var rows = Table(folder, "expected-campaign-minute.tsv").Select(f => new ExpectedCampaignMinute(
            DateTimeOffset.ParseExact(f[0], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds(), f[1],
            Long(f[2]), Long(f[3]), Long(f[4]), Long(f[5]), Long(f[6]), Long(f[7]), Long(f[8]))).ToList();
        return new HandWrittenCorpus(name, messages, [.. verdicts.Select(v => v.Verdict)], rows);
    }

    private static IEnumerable<string[]> Table(string folder, string file) =>
        File.ReadAllLines(Path.Combine(folder, file)).Where(line => line.Length > 0 && line[0] != '#').Select(line => line.Split('\t'));

    private static long Long(string text) => long.Parse(text, CultureInfo.InvariantCulture);
}
