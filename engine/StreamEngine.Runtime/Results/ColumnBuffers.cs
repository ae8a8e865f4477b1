using System.Buffers;
using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace StreamEngine.Runtime.Results;

/// <summary>
/// The columns of one Arrow batch, written value by value into buffers rented from the shared pool; the batch
/// <see cref="ToBatch"/> makes gives them back when it is disposed. A catch-up builds hundreds of MiB of rows per
/// minute: fresh arrays for each checkpoint were large-object garbage, and the kernel zeroed every new page of them
/// (a tenth of a catch-up's CPU), where rented ones are memory already in use. Not thread-safe: one builder, one thread.
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

/// <summary>A growable byte buffer rented from <see cref="ArrayPool{T}.Shared"/>; growing rents a larger one and returns the old.</summary>
internal struct RentedBytes
{
    private byte[] _array;

    public RentedBytes(int bytes) => _array = ArrayPool<byte>.Shared.Rent(Math.Max(bytes, 64));

    public readonly byte[] Array => _array;

    /// <summary>Room for <paramref name="bytes"/>, keeping the first <paramref name="used"/>.</summary>
    public void Ensure(int bytes, int used)
    {
        if (bytes > _array.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(bytes, checked(_array.Length * 2)));
            _array.AsSpan(0, used).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_array);
            _array = larger;
        }
    }

    public void Return()
    {
        ArrayPool<byte>.Shared.Return(_array);
        _array = [];
    }
}

/// <summary>Fixed-width values appended into a rented buffer, then one Arrow array over it (no validity bitmap: never null).</summary>
public sealed class FixedColumn<T> : IRented
    where T : unmanaged
{
    private static readonly int Width = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
    private RentedBytes _bytes;

    internal FixedColumn(int rows) => _bytes = new RentedBytes(checked(Math.Max(rows, 1) * Width));

    /// <summary>Values appended so far.</summary>
    public int Count { get; private set; }

    /// <summary>Appends a value, growing the buffer (rented, the old one returned) when it is full.</summary>
    public void Append(T value)
    {
        var at = Count * Width;
        if (at + Width > _bytes.Array.Length)
        {
            _bytes.Ensure(at + Width, at);
        }

        MemoryMarshal.Write(_bytes.Array.AsSpan(at), in value);
        Count++;
    }

    /// <summary>The values as an Arrow array of <paramref name="type"/> (one whose values are <typeparamref name="T"/>, e.g. a timestamp over longs).</summary>
    public IArrowArray Build(IArrowType type) => ArrowArrayFactory.BuildArray(new ArrayData(type, Count, 0, 0, [ArrowBuffer.Empty, Values]));

    /// <summary>The values' bytes, as the buffer of an Arrow array.</summary>
    internal ArrowBuffer Values => new(_bytes.Array.AsMemory(0, Count * Width));

    void IRented.Return() => _bytes.Return();
}

/// <summary>UTF-8 strings appended into rented offset and data buffers, then one Arrow string array over them.</summary>
public sealed class Utf8Column : IRented
{
    private RentedBytes _offsets; // Int32 offsets, the first 0
    private RentedBytes _data;
    private int _used;

    internal Utf8Column(int rows, int typicalBytes)
    {
        _offsets = new RentedBytes(checked((Math.Max(rows, 1) + 1) * sizeof(int)));
        _data = new RentedBytes(checked(Math.Max(rows, 1) * Math.Max(typicalBytes, 1)));
        MemoryMarshal.Write(_offsets.Array, 0);
    }

    /// <summary>Strings appended so far.</summary>
    public int Count { get; private set; }

    /// <summary>Appends a string given as UTF-8 bytes (copied; not validated).</summary>
    public void Append(ReadOnlySpan<byte> utf8)
    {
        if (_used + utf8.Length > _data.Array.Length)
        {
            _data.Ensure(checked(_used + utf8.Length), _used);
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
            _data.Ensure(checked(_used + System.Text.Encoding.UTF8.GetByteCount(value)), _used);
        }

        _used += System.Text.Encoding.UTF8.GetBytes(value, _data.Array.AsSpan(_used));
        EndValue();
    }

    /// <summary>The strings as an Arrow string array over the buffers.</summary>
    public StringArray Build() => new(Count, new ArrowBuffer(_offsets.Array.AsMemory(0, (Count + 1) * sizeof(int))), new ArrowBuffer(_data.Array.AsMemory(0, _used)), ArrowBuffer.Empty, 0, 0);

    private void EndValue()
    {
        var at = (Count + 1) * sizeof(int);
        if (at + sizeof(int) > _offsets.Array.Length)
        {
            _offsets.Ensure(at + sizeof(int), at);
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
