namespace StreamEngine.Core.Events;

/// <summary>Where an assigned partition starts and which assignment of it this is.</summary>
/// <param name="Offset">The offset to resume from; -1: the partition's beginning (nothing stored yet).</param>
/// <param name="Generation">
/// The assignment's generation, newer than any the store has seen for the partition: every checkpoint of this
/// assignment carries it, and the newest generation wins over a further offset (fencing a former owner).
/// </param>
public readonly record struct PartitionStart(long Offset, long Generation);

/// <summary>
/// Where the stored results for source partitions end: a source claims its partitions there on every assignment
/// (exactly once, docs/exactly-once.md). Implemented by the sink's checkpoint store.
/// </summary>
public interface IResumePositions
{
    /// <summary>
    /// Claims <paramref name="partitions"/> for a new assignment: each partition's resume offset and a generation
    /// newer than any stored for it, recorded before this returns so that a former owner's later checkpoints lose.
    /// </summary>
    IReadOnlyDictionary<int, PartitionStart> Claim(string topic, IReadOnlyList<int> partitions);
}

/// <summary>No stored positions: every partition starts at its beginning; generations count up within the process.</summary>
public sealed class FromTheBeginning : IResumePositions
{
    private long _generation;

    /// <summary>The one instance.</summary>
    public static FromTheBeginning Instance { get; } = new();

    /// <summary>Every partition from its first offset, with no state.</summary>
    public IReadOnlyDictionary<int, PartitionStart> Claim(string topic, IReadOnlyList<int> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        var generation = Interlocked.Increment(ref _generation);
        return partitions.ToDictionary(p => p, _ => new PartitionStart(-1, generation));
    }
}
