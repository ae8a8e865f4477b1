namespace StreamEngine.Core.State;

/// <summary>How keys are written into and read from state snapshots.</summary>
public sealed record KeyCodec<TKey>(Action<BinaryWriter, TKey> Write, Func<BinaryReader, TKey> Read);

/// <summary>Codecs for the key types jobs use; other key types pass their own.</summary>
public static class KeyCodecs
{
    /// <summary>The codec for int, long, string, Guid or UInt128 keys; throws for anything else.</summary>
    public static KeyCodec<TKey> Default<TKey>()
    {
        object codec = typeof(TKey) switch
        {
            var t when t == typeof(int) => new KeyCodec<int>((w, k) => w.Write(k), r => r.ReadInt32()),
            var t when t == typeof(long) => new KeyCodec<long>((w, k) => w.Write(k), r => r.ReadInt64()),
            var t when t == typeof(string) => new KeyCodec<string>((w, k) => w.Write(k), r => r.ReadString()),
            var t when t == typeof(Guid) => new KeyCodec<Guid>((w, k) => w.Write(k.ToByteArray()), r => new Guid(r.ReadBytes(16))),
            var t when t == typeof(UInt128) => new KeyCodec<UInt128>((w, k) => { w.Write((ulong)(k >> 64)); w.Write((ulong)k); }, r => new UInt128(r.ReadUInt64(), r.ReadUInt64())),
            _ => throw new NotSupportedException($"no default snapshot codec for keys of type {typeof(TKey)}; pass a KeyCodec"),
        };
        return (KeyCodec<TKey>)codec;
    }
}
