using Apache.Arrow;
using Apache.Arrow.Types;

namespace StreamEngine.Runtime.Results;

/// <summary>
/// The type of a result column: its ClickHouse type (the results store's contract) and how its values go into an Arrow
/// column of the batch the store receives. Unsigned types take signed values (counts are longs in the code) and refuse
/// negative ones; narrower types refuse values that do not fit, rather than store them wrapped.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The types are named as ClickHouse names them.")]
public abstract class ColumnType
{
    private protected ColumnType(string clickHouse, IArrowType arrow)
    {
        ClickHouse = clickHouse;
        Arrow = arrow;
    }

    /// <summary>The type as ClickHouse writes it, e.g. <c>UInt64</c>, <c>LowCardinality(String)</c>.</summary>
    public string ClickHouse { get; }

    /// <summary>The Arrow type the column is sent as.</summary>
    public IArrowType Arrow { get; }

    /// <summary>The ClickHouse type.</summary>
    public override string ToString() => ClickHouse;

    /// <summary>A column of this type being written, with room for <paramref name="rows"/> values before it grows.</summary>
    internal abstract ValueColumn CreateColumn(ColumnBuffers buffers, int rows);

    /// <summary>A byte: <c>UInt8</c> (flags).</summary>
    public static ColumnType<byte> UInt8 { get; } = Fixed<byte, byte>("UInt8", UInt8Type.Default, v => v);

    /// <summary>An int that fits 16 bits: <c>Int16</c> (e.g. sketch buckets).</summary>
    public static ColumnType<int> Int16 { get; } = Fixed<int, short>("Int16", Int16Type.Default, v => checked((short)v));

    /// <summary>An int: <c>Int32</c>.</summary>
    public static ColumnType<int> Int32 { get; } = Fixed<int, int>("Int32", Int32Type.Default, v => v);

    /// <summary>A long from 0 to 2^32 - 1: <c>UInt32</c>.</summary>
    public static ColumnType<long> UInt32 { get; } = Fixed<long, uint>("UInt32", UInt32Type.Default, v => checked((uint)v));

    /// <summary>A long: <c>Int64</c> (sums of money in micros).</summary>
    public static ColumnType<long> Int64 { get; } = Fixed<long, long>("Int64", Int64Type.Default, v => v);

    /// <summary>A count: a long that is never negative.</summary>
    public static ColumnType<long> UInt64 { get; } = Fixed<long, ulong>("UInt64", UInt64Type.Default, v => checked((ulong)v));

    /// <summary>A double: <c>Float64</c>.</summary>
    public static ColumnType<double> Float64 { get; } = Fixed<double, double>("Float64", DoubleType.Default, v => v);

    /// <summary>A string: <c>String</c>.</summary>
    public static ColumnType<string> String { get; } = new("String", StringType.Default, (buffers, rows) => new Utf8Values<string>(buffers.Utf8(rows, TypicalBytes), static (c, v) => c.Append(v)));

    /// <summary>A string given as its UTF-8 bytes (names cached as bytes are written without encoding them again).</summary>
    public static ColumnType<byte[]> Utf8 { get; } = new("String", StringType.Default, (buffers, rows) => new Utf8Values<byte[]>(buffers.Utf8(rows, TypicalBytes), static (c, v) => c.Append(v)));

    /// <summary>A point in time in milliseconds since the Unix epoch, as <c>DateTime64(3, 'UTC')</c>.</summary>
    public static ColumnType<long> DateTime64Ms { get; } = Fixed<long, long>("DateTime64(3, 'UTC')", new TimestampType(TimeUnit.Millisecond, "UTC"), v => v);

    /// <summary>What a string cell is sized for up front (names, codes); longer ones grow the column.</summary>
    private const int TypicalBytes = 16;

    /// <summary>The same values with ClickHouse's dictionary encoding (few distinct values: countries, devices).</summary>
    public static ColumnType<T> LowCardinality<T>(ColumnType<T> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return values.Renamed($"LowCardinality({values.ClickHouse})");
    }

    /// <summary>An array of <paramref name="elements"/>, e.g. a histogram's bucket keys.</summary>
    public static ColumnType<IEnumerable<T>> ArrayOf<T>(ColumnType<T> elements)
    {
        ArgumentNullException.ThrowIfNull(elements);
        var type = new ListType(elements.Arrow);
        return new ColumnType<IEnumerable<T>>($"Array({elements.ClickHouse})", type,
            (buffers, rows) => new ListValues<T>(buffers.Fixed<int>(rows + 1), elements.CreateTyped(buffers, rows * 4), type));
    }

    private static ColumnType<T> Fixed<T, TStored>(string clickHouse, IArrowType arrow, Func<T, TStored> convert)
        where TStored : unmanaged =>
        new(clickHouse, arrow, (buffers, rows) => new FixedValues<T, TStored>(buffers.Fixed<TStored>(rows), arrow, convert));
}

/// <summary>A column type whose values are <typeparamref name="T"/>.</summary>
public sealed class ColumnType<T> : ColumnType
{
    private readonly Func<ColumnBuffers, int, ValueColumn<T>> _create;

    internal ColumnType(string clickHouse, IArrowType arrow, Func<ColumnBuffers, int, ValueColumn<T>> create)
        : base(clickHouse, arrow) => _create = create;

    internal override ValueColumn CreateColumn(ColumnBuffers buffers, int rows) => _create(buffers, rows);

    internal ValueColumn<T> CreateTyped(ColumnBuffers buffers, int rows) => _create(buffers, rows);

    internal ColumnType<T> Renamed(string clickHouse) => new(clickHouse, Arrow, _create);
}
