namespace StreamEngine.Core.Events;

/// <summary>
/// Where the stored results for a source partition end: a source seeks there on assignment (exactly once,
/// DESIGN.md). Implemented by the sink's offset store; sources consult it.
/// </summary>
public interface IResumePositions
{
    /// <summary>The offset to resume from, or null when nothing has been written for the partition yet (start at the beginning).</summary>
    long? ResumeOffset(string topic, int partition);
}

/// <summary>No stored positions: every partition starts at its beginning.</summary>
public sealed class FromTheBeginning : IResumePositions
{
    public static FromTheBeginning Instance { get; } = new();

    public long? ResumeOffset(string topic, int partition) => null;
}
