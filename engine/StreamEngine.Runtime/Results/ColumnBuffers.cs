using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace StreamEngine.Runtime.Results;

/// <summary>
/// The columns of one Arrow batch, written value by value into buffers rented from the row buffer pool; the batch
/// <see cref="ToBatch"/> makes gives them back when it is disposed (and no export to native code still pins them). A
/// catch-up builds hundreds of MiB of rows per minute: fresh arrays for each checkpoint were large-object garbage, and
/// the kernel zeroed every new page of them (a tenth of a catch-up's CPU), where rented ones are memory already in use.
/// Not thread-safe: one builder, one thread.
/// </summary>
public sealed class ColumnBuffers
{
    private readonly List<IRented> _columns = [];
    private int _released;

    /// <summary>A column of fixed-width values (numbers, timestamps) with room for <paramref name="rows"/> before it grows.</summary>
    public FixedColumn<T> Fixed<T>(int rows)
        where T : unmanaged => Track(new FixedColumn<T>(rows));

    /// <summary>A string column with room for <paramref name="rows"/> values of about <paramref name="typicalBytes"/> bytes before it grows.</summary>
    public Utf8Column Utf8(int rows, int typicalBytes) => Track(new Utf8Column(rows, typicalBytes));

    /// <summary>
    /// The batch of <paramref name="columns"/> (not nullable, equal lengths), owning these buffers: disposing it returns
    /// them, so nothing may read the batch after that. A batch never disposed leaves them to the garbage collector.
    /// </summary>
    public RecordBatch ToBatch(IReadOnlyList<(string Name, IArrowArray Column)> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var schema = new Schema.Builder();
        foreach (var (name, column) in columns)
        {
            schema.Field(new Field(name, column.Data.DataType, nullable: false));
        }

        return new PooledRecordBatch(schema.Build(), columns.Select(c => c.Column), columns.Count == 0 ? 0 : columns[0].Column.Length, this);
    }

    /// <summary>Returns every buffer to the pool (once); the columns must not be used afterwards.</summary>
    internal void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            foreach (var column in _columns)
            {
                column.Return();
            }
        }
    }

    private T Track<T>(T column)
        where T : IRented
    {
        _columns.Add(column);
        return column;
    }

    private sealed class PooledRecordBatch(Schema schema, IEnumerable<IArrowArray> data, int length, ColumnBuffers buffers) : RecordBatch(schema, data, length)
    {
        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
                buffers.Release();
            }
        }
    }
}

/// <summary>A buffer rented from the pool, given back with its batch.</summary>
internal interface IRented
{
    void Return();
}

/// <summary>
/// Arrays for rows, by power-of-two size, kept for reuse up to <see cref="MaxRetainedBytes"/> in all: past it a
/// returned array is left to the garbage collector, so what a catch-up's large checkpoints leave behind is bounded
/// (the shared ArrayPool keeps up to 32 arrays of every size per core, and trims them only after gen 2 collections).
/// </summary>
internal static class RowBufferPool
{
    /// <summary>Bytes the pool keeps between batches at most.</summary>
    public const long MaxRetainedBytes = 256L << 20;

    private const int SmallestShift = 12; // 4 KiB
    private const int LargestShift = 30; // 1 GiB: larger arrays are allocated at their size and never kept
    private static readonly ConcurrentStack<byte[]>[] Sizes = [.. Enumerable.Range(0, LargestShift + 1).Select(_ => new ConcurrentStack<byte[]>())];
    private static long _retained;

    /// <summary>An array of at least <paramref name="bytes"/> (not cleared: callers expose only what they wrote).</summary>
    public static byte[] Rent(int bytes)
    {
        var shift = Math.Max(SmallestShift, BitOperations.Log2((uint)Math.Max(bytes, 1) - 1) + 1);
        if (shift > LargestShift)
        {
            return GC.AllocateUninitializedArray<byte>(bytes);
        }

        if (Sizes[shift].TryPop(out var array))
        {
            Interlocked.Add(ref _retained, -array.Length);
            return array;
        }

        return GC.AllocateUninitializedArray<byte>(1 << shift);
    }

    /// <summary>Keeps <paramref name="array"/> for reuse if it is one of the pool's sizes and the pool has room.</summary>
    public static void Return(byte[] array)
    {
        if (array.Length < 1 << SmallestShift || array.Length > 1 << LargestShift || !BitOperations.IsPow2(array.Length))
        {
            return;
        }

        if (Interlocked.Add(ref _retained, array.Length) > MaxRetainedBytes)
        {
            Interlocked.Add(ref _retained, -array.Length);
            return;
        }

        Sizes[BitOperations.Log2((uint)array.Length)].Push(array);
    }
}

/// <summary>
/// A rented array as the memory of an Arrow buffer. Exporting a batch to native code (chDB's Arrow C data interface)
/// pins its buffers until the importer releases them; the array goes back to the pool only when the batch is disposed
/// and no pin is left, so a late release can never read an array another batch has been given.
/// </summary>
internal sealed class PooledMemory(byte[] array) : MemoryManager<byte>
{
    private int _pins;
    private int _released;
    private int _returned;

    public override Span<byte> GetSpan() => array;

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        Interlocked.Increment(ref _pins);
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle, this);
    }

    public override void Unpin()
    {
        if (Interlocked.Decrement(ref _pins) == 0 && Volatile.Read(ref _released) == 1)
        {
            ReturnOnce();
        }
    }

    /// <summary>The batch is done with the array: back to the pool now, or at the last unpin.</summary>
    public void Release()
    {
        Volatile.Write(ref _released, 1);
        if (Volatile.Read(ref _pins) == 0)
        {
            ReturnOnce();
        }
    }

    protected override void Dispose(bool disposing)
    {
    }

    private void ReturnOnce()
    {
        if (Interlocked.Exchange(ref _returned, 1) == 0)
        {
            RowBufferPool.Return(array);
        }
    }
}

/// <summary>A growable byte buffer from <see cref="RowBufferPool"/>; growing rents a larger one and returns the old.</summary>
internal struct RentedBytes
{
    private byte[] _array;
    private PooledMemory? _exposed;

    public RentedBytes(int bytes) => _array = RowBufferPool.Rent(Math.Max(bytes, 64));

    public readonly byte[] Array => _array;

    /// <summary>Room for <paramref name="bytes"/>, keeping the first <paramref name="used"/>.</summary>
    public void Ensure(long bytes, int used)
    {
        if (bytes <= _array.Length)
        {
            return;
        }

        if (_exposed is not null)
        {
            throw new InvalidOperationException("the column is built: it takes no more values");
        }

        if (bytes > System.Array.MaxLength)
        {
            throw new InvalidOperationException($"one column of a batch would pass {System.Array.MaxLength:N0} bytes: write the rows in smaller batches (pipeline.max_pending_rows)");
        }

        var larger = RowBufferPool.Rent((int)Math.Min(System.Array.MaxLength, Math.Max(bytes, 2L * _array.Length)));
        _array.AsSpan(0, used).CopyTo(larger);
        RowBufferPool.Return(_array);
        _array = larger;
    }

    /// <summary>The first <paramref name="length"/> bytes as an Arrow buffer's memory; the buffer takes no more writes that grow it.</summary>
    public ReadOnlyMemory<byte> Expose(int length)
    {
        _exposed ??= new PooledMemory(_array);
        return _exposed.Memory[..length];
    }

    public void Return()
    {
        if (_exposed is not null)
        {
            _exposed.Release();
        }
        else
        {
            RowBufferPool.Return(_array);
        }

        _array = [];
    }
}

/// <summary>Fixed-width values appended into a rented buffer, then one Arrow array over it (no validity bitmap: never null).</summary>
public sealed class FixedColumn<T> : IRented
    where T : unmanaged
{
    private static readonly int Width = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
    private RentedBytes _bytes;

    internal FixedColumn(int rows) => _bytes = new RentedBytes(Utf8Column.Bytes(rows, Width));

    /// <summary>Values appended so far.</summary>
    public int Count { get; private set; }

    /// <summary>Appends a value, growing the buffer (rented, the old one returned) when it is full.</summary>
    public void Append(T value)
    {
        var at = Count * Width;
        if (at + Width > _bytes.Array.Length)
        {
            _bytes.Ensure((long)at + Width, at);
        }

        MemoryMarshal.Write(_bytes.Array.AsSpan(at), in value);
        Count++;
    }

    /// <summary>The values as an Arrow array of <paramref name="type"/> (one whose values are <typeparamref name="T"/>, e.g. a timestamp over longs).</summary>
    public IArrowArray Build(IArrowType type) => ArrowArrayFactory.BuildArray(new ArrayData(type, Count, 0, 0, [ArrowBuffer.Empty, Values]));

    /// <summary>The values' bytes, as the buffer of an Arrow array.</summary>
    internal ArrowBuffer Values => new(_bytes.Expose(Count * Width));

    void IRented.Return() => _bytes.Return();
}

/// <summary>UTF-8 strings (or other bytes) appended into rented offset and data buffers, then one Arrow string (or binary) array over them.</summary>
public sealed class Utf8Column : IRented
{
    private RentedBytes _offsets; // Int32 offsets, the first 0
    private RentedBytes _data;
    private int _used;

    internal Utf8Column(int rows, int typicalBytes)
    {
        _offsets = new RentedBytes(Bytes(rows + 1L, sizeof(int)));
        _data = new RentedBytes(Bytes(rows, typicalBytes));
        MemoryMarshal.Write(_offsets.Array, 0);
    }

    /// <summary>Strings appended so far.</summary>
    public int Count { get; private set; }

    /// <summary>Appends a string given as UTF-8 bytes (copied; not validated).</summary>
    public void Append(ReadOnlySpan<byte> utf8)
    {
        if (_used + utf8.Length > _data.Array.Length)
        {
            _data.Ensure((long)_used + utf8.Length, _used);
        }

        utf8.CopyTo(_data.Array.AsSpan(_used));
        _used += utf8.Length;
        EndValue();
    }

    /// <summary>Appends <paramref name="value"/> encoded as UTF-8 (an unpaired surrogate becomes U+FFFD, as everywhere in .NET).</summary>
    public void Append(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var most = System.Text.Encoding.UTF8.GetMaxByteCount(value.Length);
        if (_used + most > _data.Array.Length)
        {
            _data.Ensure((long)_used + System.Text.Encoding.UTF8.GetByteCount(value), _used);
        }

        _used += System.Text.Encoding.UTF8.GetBytes(value, _data.Array.AsSpan(_used));
        EndValue();
    }

    /// <summary>The values as an Arrow binary array over the buffers (bytes that are not text, e.g. snapshots).</summary>
    public BinaryArray BuildBinary() => new(BinaryType.Default, Count, new ArrowBuffer(_offsets.Expose((Count + 1) * sizeof(int))), new ArrowBuffer(_data.Expose(_used)), ArrowBuffer.Empty, 0, 0);

    /// <summary>The strings as an Arrow string array over the buffers.</summary>
    public StringArray Build() => new(Count, new ArrowBuffer(_offsets.Expose((Count + 1) * sizeof(int))), new ArrowBuffer(_data.Expose(_used)), ArrowBuffer.Empty, 0, 0);

    /// <summary>The first size of a buffer for <paramref name="rows"/> values of <paramref name="width"/> bytes (a larger batch grows it).</summary>
    internal static int Bytes(long rows, int width) => (int)Math.Min(1 << 26, Math.Max(1, rows) * Math.Max(1, width));

    private void EndValue()
    {
        var at = (Count + 1) * sizeof(int);
        if (at + sizeof(int) > _offsets.Array.Length)
        {
            _offsets.Ensure((long)at + sizeof(int), at);
        }

        MemoryMarshal.Write(_offsets.Array.AsSpan(at), _used);
        Count++;
    }

    void IRented.Return()
    {
        _offsets.Return();
        _data.Return();
    }
}
