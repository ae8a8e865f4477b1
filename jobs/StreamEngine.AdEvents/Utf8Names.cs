namespace StreamEngine.AdEvents;

/// <summary>The UTF-8 bytes of interned names, cached by id, for writing columns. One writer thread at a time.</summary>
public sealed class Utf8Names(SymbolTable symbols)
{
    private byte[]?[] _bytes = new byte[1024][];

    public byte[] Of(int id)
    {
        if (id >= _bytes.Length)
        {
            Array.Resize(ref _bytes, Math.Max(id + 1, _bytes.Length * 2));
        }

        return _bytes[id] ??= System.Text.Encoding.UTF8.GetBytes(symbols.Name(id));
    }
}
