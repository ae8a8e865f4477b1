using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Text;

namespace StreamEngine.AdEvents;

/// <summary>
/// Interns identifiers (campaign, ad, placement, publisher ids) to small integers, so events carry ints and the
/// hot path compares ints; looking up a known name from a span allocates nothing. Safe for one writer (the
/// decoder) and any number of readers (result rendering).
/// </summary>
public sealed class SymbolTable
{
    private readonly ConcurrentDictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly object _gate = new();
    private readonly Dictionary<ulong, int> _byUtf8Hash = [];     // decoder thread only
    private readonly List<byte[]> _utf8 = [[]];                    // id -> UTF-8 bytes, to confirm a hash match
    private string[] _names = new string[1024];

    public SymbolTable()
    {
        _bySpan = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Names interned so far.</summary>
    public int Count => _ids.Count;

    /// <summary>The id of <paramref name="name"/>, adding it when new (ids start at 1; 0 means none).</summary>
    public int Intern(ReadOnlySpan<char> name)
    {
        if (_bySpan.TryGetValue(name, out var id))
        {
            return id;
        }

        lock (_gate)
        {
            if (_bySpan.TryGetValue(name, out id))
            {
                return id;
            }

            var text = name.ToString();
            id = _ids.Count + 1;
            if (id >= _names.Length)
            {
                var grown = new string[_names.Length * 2];
                Array.Copy(_names, grown, _names.Length);
                Volatile.Write(ref _names, grown);
            }

            _names[id] = text;
            _ids[text] = id;
            return id;
        }
    }

    public int Intern(string name) => Intern(name.AsSpan());

    /// <summary>
    /// The id of the UTF-8 name <paramref name="utf8"/>, adding it when new. For the decoder's thread only: it skips
    /// turning bytes into characters for names it has seen (a hash lookup and one byte comparison).
    /// </summary>
    public int InternUtf8(ReadOnlySpan<byte> utf8)
    {
        var hash = XxHash3.HashToUInt64(utf8);
        if (_byUtf8Hash.TryGetValue(hash, out var id) && _utf8[id].AsSpan().SequenceEqual(utf8))
        {
            return id;
        }

        id = Intern(Encoding.UTF8.GetString(utf8));
        while (_utf8.Count <= id)
        {
            _utf8.Add([]);
        }

        _utf8[id] = utf8.ToArray();
        _byUtf8Hash.TryAdd(hash, id); // on a (vanishingly rare) hash collision the first name keeps the fast path
        return id;
    }

    /// <summary>The name of an id; "" for 0.</summary>
    public string Name(int id)
    {
        var names = Volatile.Read(ref _names);
        return id > 0 && id < names.Length && names[id] is { } name ? name : id == 0 ? "" : throw new ArgumentOutOfRangeException(nameof(id), id, "no such symbol");
    }
}
