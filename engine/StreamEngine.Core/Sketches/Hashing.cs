using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace StreamEngine.Core.Sketches;

/// <summary>Hashes for sketches and deduplication: well mixed, stable across processes and runs.</summary>
public static class Hashing
{
    /// <summary>Mixes a 64-bit integer (an interned id, say) into a well-distributed hash (SplitMix64 finalizer).</summary>
    public static ulong Mix(ulong value)
    {
        value ^= value >> 30;
        value *= 0xbf58476d1ce4e5b9UL;
        value ^= value >> 27;
        value *= 0x94d049bb133111ebUL;
        return value ^ (value >> 31);
    }

    /// <summary>64-bit XXH3 of UTF-8 or other bytes.</summary>
    public static ulong Hash64(ReadOnlySpan<byte> bytes) => XxHash3.HashToUInt64(bytes);

    /// <summary>64-bit XXH3 of a string's UTF-16 code units (stable: no per-process seed, unlike string.GetHashCode).</summary>
    public static ulong Hash64(string text) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(text.AsSpan()));

    /// <summary>128-bit XXH3, for event ids: collisions are negligible even across billions of ids.</summary>
    public static UInt128 Hash128(ReadOnlySpan<byte> bytes) => XxHash128.HashToUInt128(bytes);

    /// <summary>The 128-bit XXH3 hash of <paramref name="text"/>'s UTF-8 bytes.</summary>
    public static UInt128 Hash128(string text) => XxHash128.HashToUInt128(MemoryMarshal.AsBytes(text.AsSpan()));
}
