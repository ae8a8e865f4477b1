using StreamEngine.Core.Sketches;

namespace StreamEngine.Core.Tests;

/// <summary>A small event for core tests: an id, a key, an event time and a value.</summary>
public readonly record struct TestEvent(long Id, int Key, long TimestampMs, long Value)
{
    public UInt128 IdHash => new((ulong)Id, Hashing.Mix((ulong)Id));
}
