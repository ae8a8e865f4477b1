using System.Text;

namespace StreamEngine.Core.Dsl;

/// <summary>
/// A live value for NATS and SignalR: its subject (e.g. <c>adtrack.metrics.campaign.cmp-1</c>), its key (the campaign or
/// slot), the window it is about, and its JSON. Values conflate per subject and window: a newer value of the same
/// window replaces an unsent one, but a new window does not swallow the last value of the one before.
/// </summary>
public sealed record LiveUpdate(string Subject, string Key, long WindowStartMs, byte[] Json)
{
    /// <summary>A subject token from an id: NATS separates tokens with '.', and '*', '>' and whitespace are not allowed in one.</summary>
    public static string Token(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length == 0)
        {
            return "_";
        }

        var token = new StringBuilder(id.Length);
        foreach (var c in id)
        {
            token.Append(c is '.' or '*' or '>' || char.IsWhiteSpace(c) || char.IsControl(c) ? '_' : c);
        }

        return token.ToString();
    }
}
