using System.Collections.Concurrent;

namespace StreamEngine.Core.AdEvents;

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

    /// <summary>The name of an id; "" for 0.</summary>
    public string Name(int id)
    {
        var names = Volatile.Read(ref _names);
        return id > 0 && id < names.Length && names[id] is { } name ? name : id == 0 ? "" : throw new ArgumentOutOfRangeException(nameof(id), id, "no such symbol");
    }
}
