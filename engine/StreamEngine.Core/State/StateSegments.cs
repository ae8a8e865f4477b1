using System.Buffers.Binary;
using System.IO.Hashing;

namespace StreamEngine.Core.State;

/// <summary>
/// A partition's state in segments, so a checkpoint stores only what changed: a small header (watermarks, counters)
/// and segments (the dedup ids of one stretch of event time, the windows starting in one), each named by the 128-bit
/// hash of its bytes. A segment already stored goes into a checkpoint as its hash alone (a reference); the store
/// keeps each segment once under its hash and puts the segments back before the state is restored
/// (<see cref="Resolve"/>). Layout: format (int32, <see cref="Format"/>), header length (int32), header, segment count
/// (int32), then per segment its hash (16 bytes), its length (int32, -1 for a reference) and, inline, its bytes.
/// Older formats (no segments) pass through every method unchanged.
/// </summary>
public static class StateSegments
{
    /// <summary>The first four bytes of a segmented state (earlier formats are 1 and 2).</summary>
    public const int Format = 3;

    private const int Reference = -1;

    /// <summary>Whether <paramref name="state"/> is in segments (format 3).</summary>
    public static bool IsSegmented(ReadOnlySpan<byte> state) => state.Length >= 8 && BinaryPrimitives.ReadInt32LittleEndian(state) == Format;

    /// <summary>The hash a segment is known by: XXH128 of its bytes.</summary>
    public static UInt128 HashOf(ReadOnlySpan<byte> segment) => XxHash128.HashToUInt128(segment);

    /// <summary>The segments <paramref name="state"/> carries inline (each with its hash), for the store to keep.</summary>
    public static IReadOnlyList<(UInt128 Hash, ReadOnlyMemory<byte> Data)> Inline(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var inline = new List<(UInt128, ReadOnlyMemory<byte>)>();
        foreach (var (hash, offset, length) in Walk(state))
        {
            if (length != Reference)
            {
                inline.Add((hash, state.AsMemory(offset, length)));
            }
        }

        return inline;
    }

    /// <summary>The hash of every segment of <paramref name="state"/>, inline or referenced.</summary>
    public static IReadOnlyList<UInt128> References(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return [.. Walk(state).Select(s => s.Hash)];
    }

    /// <summary>The state with every segment as a reference: what a checkpoint row keeps once the segments are stored.</summary>
    public static byte[] ToManifest(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!IsSegmented(state))
        {
            return state;
        }

        var segments = Walk(state).ToList();
        var headerEnd = 8 + HeaderLength(state);
        var manifest = new byte[headerEnd + 4 + (segments.Count * HeadBytes)];
        state.AsSpan(0, headerEnd).CopyTo(manifest);
        var at = headerEnd;
        BinaryPrimitives.WriteInt32LittleEndian(manifest.AsSpan(at), segments.Count);
        at += 4;
        foreach (var (hash, _, _) in segments)
        {
            WriteHead(manifest.AsSpan(at), hash, length: null);
            at += HeadBytes;
        }

        return manifest;
    }

    /// <summary>
    /// The state with every referenced segment put back from <paramref name="find"/> (null: not stored), checked
    /// against its hash: what the aggregation restores from. A segment missing or damaged is an error that names it.
    /// </summary>
    public static byte[] Resolve(byte[] state, Func<UInt128, ReadOnlyMemory<byte>?> find)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(find);
        if (!IsSegmented(state))
        {
            return state;
        }

        var segments = new List<(UInt128 Hash, ReadOnlyMemory<byte> Data)>();
        foreach (var (hash, offset, length) in Walk(state))
        {
            var data = length != Reference
                ? state.AsMemory(offset, length)
                : find(hash) ?? throw new InvalidDataException($"the checkpoint refers to state segment {hash:x32}, which the store does not hold");
            if (HashOf(data.Span) != hash)
            {
                throw new InvalidDataException($"state segment {hash:x32} does not match its hash: the stored state is damaged");
            }

            segments.Add((hash, data));
        }

        var headerEnd = 8 + HeaderLength(state);
        var resolved = new byte[headerEnd + 4 + segments.Sum(s => HeadBytes + s.Data.Length)];
        state.AsSpan(0, headerEnd).CopyTo(resolved);
        var at = headerEnd;
        BinaryPrimitives.WriteInt32LittleEndian(resolved.AsSpan(at), segments.Count);
        at += 4;
        foreach (var (hash, data) in segments)
        {
            WriteHead(resolved.AsSpan(at), hash, data.Length);
            data.Span.CopyTo(resolved.AsSpan(at + HeadBytes));
            at += HeadBytes + data.Length;
        }

        return resolved;
    }

    /// <summary>The bytes before a segment's own: its hash and its length.</summary>
    internal const int HeadBytes = 20;

    /// <summary>Writes a segment's head: its hash, and its length (null: a reference, no bytes follow).</summary>
    internal static void WriteHead(Span<byte> destination, UInt128 hash, int? length)
    {
        WriteHash(destination, hash);
        BinaryPrimitives.WriteInt32LittleEndian(destination[16..], length ?? Reference);
    }

    private static void WriteHash(Span<byte> destination, UInt128 hash)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, (ulong)(hash >> 64));
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], (ulong)hash);
    }

    internal static UInt128 ReadHash(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(source), BinaryPrimitives.ReadUInt64LittleEndian(source[8..]));

    private static int HeaderLength(byte[] state) => BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(4));

    /// <summary>Each segment's hash, and where its bytes are (offset and length; length -1 for a reference).</summary>
    private static IEnumerable<(UInt128 Hash, int Offset, int Length)> Walk(byte[] state)
    {
        if (!IsSegmented(state))
        {
            yield break;
        }

        var headerLength = HeaderLength(state);
        if (headerLength < 0 || 8L + headerLength + 4 > state.Length)
        {
            throw new InvalidDataException("the state's header runs past its end");
        }

        var at = 8 + headerLength;
        var count = BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(at));
        at += 4;
        for (var i = 0; i < count; i++)
        {
            if (at + (long)HeadBytes > state.Length)
            {
                throw new InvalidDataException($"the state ends inside segment {i} of {count}");
            }

            var hash = ReadHash(state.AsSpan(at));
            var length = BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(at + 16));
            at += HeadBytes;
            if (length == Reference)
            {
                yield return (hash, at, Reference);
                continue;
            }

            if (length < 0 || at + (long)length > state.Length)
            {
                throw new InvalidDataException($"segment {i} of {count} runs past the end of the state");
            }

            yield return (hash, at, length);
            at += length;
        }
    }
}
