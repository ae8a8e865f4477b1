using System.Security.Cryptography;

namespace StreamEngine.Core.Windowing;

/// <summary>
/// One dedup bucket's ids: the ids themselves in the order they came, in parts of <see cref="IdsPerPart"/> (64 KiB
/// each, below the large object heap's threshold, so the collector compacts them; the first grows to that size, so a
/// bucket of a quiet partition stays small), and an open-addressing index of their positions. About 26 bytes per id
/// where a <c>HashSet&lt;UInt128&gt;</c> took 54, and the parts are what a snapshot writes, without a copy.
/// </summary>
internal sealed class EventIdSet
{
    /// <summary>Ids per part: a snapshot writes a bucket's ids one part per state segment.</summary>
    public const int IdsPerPart = 4096;

    private const int MinIndexBits = 4;
    private const int FirstPartIds = 16;

    // Ids are hashes of event ids, but anyone can send event ids: multipliers of this process's own keep chosen ids
    // from piling into one run of the index (both halves count, so ids alike in one half still spread).
    private static readonly ulong High = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) | 1;
    private static readonly ulong Low = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) | 1;

    private readonly List<UInt128[]> _parts = [];
    private int[] _index = new int[1 << MinIndexBits]; // position + 1 of an id; 0: empty
    private int _indexBits = MinIndexBits;

    /// <summary>Ids held.</summary>
    public int Count { get; private set; }

    /// <summary>Parts holding ids (the last one may be partly filled).</summary>
    public int PartCount => (Count + IdsPerPart - 1) / IdsPerPart;

    /// <summary>The ids of part <paramref name="part"/>, in the order they came.</summary>
    public ReadOnlySpan<UInt128> Part(int part)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(part);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(part, PartCount);
        var filled = Math.Min(IdsPerPart, Count - (part * IdsPerPart));
        return _parts[part].AsSpan(0, filled);
    }

    /// <summary>Adds the id; false when it is held already.</summary>
    public bool Add(UInt128 id)
    {
        var mask = _index.Length - 1;
        for (var slot = SlotOf(id); ; slot = (slot + 1) & mask)
        {
            var position = _index[slot];
            if (position == 0)
            {
                Append(id);
                _index[slot] = Count;
                if (Count > _index.Length / 2)
                {
                    Grow();
                }

                return true;
            }

            if (At(position - 1) == id)
            {
                return false;
            }
        }
    }

    /// <summary>Forgets every id, keeping the memory for the next use.</summary>
    public void Clear()
    {
        System.Array.Clear(_index);
        Count = 0;
    }

    private int SlotOf(UInt128 id) => (int)((((ulong)(id >> 64) * High) ^ (ulong)id) * Low >> (64 - _indexBits));

    private UInt128 At(int position) => _parts[position / IdsPerPart][position % IdsPerPart];

    private void Append(UInt128 id)
    {
        var part = Count / IdsPerPart;
        var at = Count % IdsPerPart;
        if (part == _parts.Count)
        {
            _parts.Add(new UInt128[part == 0 ? FirstPartIds : IdsPerPart]);
        }
        else if (at == _parts[part].Length)
        {
            var grown = _parts[part]; // only the first part grows, doubling up to a whole part
            System.Array.Resize(ref grown, Math.Min(IdsPerPart, grown.Length * 2));
            _parts[part] = grown;
        }

        _parts[part][at] = id;
        Count++;
    }

    /// <summary>Twice the slots: at most half of them are used, so a miss (a new id, the usual case) probes about two.</summary>
    private void Grow()
    {
        _indexBits++;
        _index = new int[1 << _indexBits];
        var mask = _index.Length - 1;
        for (var position = 0; position < Count; position++)
        {
            var slot = SlotOf(At(position));
            while (_index[slot] != 0)
            {
                slot = (slot + 1) & mask;
            }

            _index[slot] = position + 1;
        }
    }
}
