namespace StreamEngine.Core.Events;

/// <summary>
/// Where the stored results for source partitions end: a source seeks there on assignment (exactly once,
/// DESIGN.md). Implemented by the sink's checkpoint store; sources consult it once per assignment.
/// </summary>
public interface IResumePositions
{
    /// <summary>
    /// The offsets to resume <paramref name="partitions"/> from; a partition missing from the answer has nothing
    /// written yet and starts at its beginning.
    /// </summary>
    IReadOnlyDictionary<int, long> ResumeOffsets(string topic, IReadOnlyList<int> partitions);
}

/// <summary>No stored positions: every partition starts at its beginning.</summary>
public sealed class FromTheBeginning : IResumePositions
{
    public static FromTheBeginning Instance { get; } = new();

    public IReadOnlyDictionary<int, long> ResumeOffsets(string topic, IReadOnlyList<int> partitions) => new Dictionary<int, long>();
}
