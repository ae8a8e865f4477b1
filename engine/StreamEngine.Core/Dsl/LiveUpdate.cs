using System.Text;

namespace StreamEngine.Core.Dsl;

/// <summary>
/// A kind of live value: the NATS subjects its values go to (<see cref="SubjectPrefix"/> and the key as one token, e.g.
/// <c>adtrack.metrics.campaign.cmp-1</c>) and the audience whose subscribers receive them on the hub (e.g. everyone
/// watching that campaign). Sinks route by these typed fields, never by reading subjects or payloads.
/// </summary>
public sealed record LiveTopic(string SubjectPrefix, string Audience)
{
    /// <summary>Whether the values' <see cref="LiveUpdate.Volume"/> ranks the keys a dashboard offers first (its pickers).</summary>
    public bool Catalogued { get; init; }

    /// <summary>The subject of one key's values.</summary>
    public string Subject(string key) => $"{SubjectPrefix}.{LiveUpdate.Token(key)}";
}

/// <summary>What a subscriber asks for: one key of one audience (a campaign, a slot).</summary>
public readonly record struct LiveKey(string Audience, string Id);

/// <summary>
/// A live value for NATS and SignalR: its topic, its key (the campaign or slot), the window it is about, and its JSON.
/// Values conflate per subject, window and partition: a newer value of the same window and partition replaces an unsent
/// one, but a new window does not swallow the last value of the one before, nor one partition's partial another's.
/// </summary>
public sealed record LiveUpdate(LiveTopic Topic, string Key, long WindowStartMs, byte[] Json)
{
    /// <summary>The NATS subject: the topic's prefix and the key as a token (computed, so a copy with another key has its own).</summary>
    public string Subject => Topic.Subject(Key);

    /// <summary>Who receives it on the hub.</summary>
    public LiveKey Audience => new(Topic.Audience, Key);

    /// <summary>
    /// The source partition whose partial this is: subscribers add a window's partials up over partitions (the newest of
    /// each), as the results views do; -1 for a value that is whole (floors, pacing).
    /// </summary>
    public int Partition { get; init; } = -1;

    /// <summary>How busy the key was in the window (impressions, bids): what a catalogued topic ranks its keys by.</summary>
    public long Volume { get; init; }

    /// <summary>The id of the batch of results this value belongs to: the same id is on the batch's ClickHouse inserts, spans and log lines.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>A subject token from an id: NATS separates tokens with '.', and '*', '>' and whitespace are not allowed in one.</summary>
    public static string Token(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length == 0)
        {
            return "_";
        }

        // Most ids are tokens as they are (every live value asks, several times): no copy then.
        if (!id.AsSpan().ContainsAny(NotInToken))
        {
            return id;
        }

        var token = new StringBuilder(id.Length);
        foreach (var c in id)
        {
            token.Append(IsNotInToken(c) ? '_' : c);
        }

        return token.ToString();
    }

    /// <summary>Every character <see cref="IsNotInToken"/> refuses, for a vectorized search.</summary>
    private static readonly System.Buffers.SearchValues<char> NotInToken = System.Buffers.SearchValues.Create(
        [.. Enumerable.Range(0, char.MaxValue + 1).Select(c => (char)c).Where(IsNotInToken)]);

    private static bool IsNotInToken(char c) => c is '.' or '*' or '>' || char.IsWhiteSpace(c) || char.IsControl(c);
}

/// <summary>Where live values go (NATS, the SignalR hub): neither may ever hold up the pipeline.</summary>
public interface ILiveSink
{
    /// <summary>The newest value of a subject and window; an unsent older one of the same may be dropped.</summary>
    void Offer(LiveUpdate update);

    /// <summary>An event that must go out once (an alert).</summary>
    void Alert(string subject, string key, byte[] json);
}

/// <summary>Several live sinks as one.</summary>
public sealed class LiveSinks(IReadOnlyList<ILiveSink> sinks) : ILiveSink
{
    /// <summary>Offers a live value; conflated per subject, so a newer one may replace it before it is sent.</summary>
    public void Offer(LiveUpdate update)
    {
        foreach (var sink in sinks)
        {
            sink.Offer(update);
        }
    }

    /// <summary>Sends an alert on <paramref name="subject"/>: never conflated, at least once.</summary>
    public void Alert(string subject, string key, byte[] json)
    {
        foreach (var sink in sinks)
        {
            sink.Alert(subject, key, json);
        }
    }
}
