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

    /// <summary>A builder with room for <paramref name="rows"/> values (none grows by doubling while a batch is built).</summary>
    internal abstract IArrowArrayBuilder CreateBuilder(int rows);

    internal abstract IArrowArray Build(IArrowArrayBuilder builder);

    /// <summary>A byte: <c>UInt8</c> (flags).</summary>
    public static ColumnType<byte> UInt8 { get; } = Of<byte, UInt8Array.Builder>("UInt8", UInt8Type.Default, (b, v) => b.Append(v), b => b.Build());

    /// <summary>An int that fits 16 bits: <c>Int16</c> (e.g. sketch buckets).</summary>
    public static ColumnType<int> Int16 { get; } = Of<int, Int16Array.Builder>("Int16", Int16Type.Default, (b, v) => b.Append(checked((short)v)), b => b.Build());

    /// <summary>An int: <c>Int32</c>.</summary>
    public static ColumnType<int> Int32 { get; } = Of<int, Int32Array.Builder>("Int32", Int32Type.Default, (b, v) => b.Append(v), b => b.Build());

    /// <summary>A long from 0 to 2^32 - 1: <c>UInt32</c>.</summary>
    public static ColumnType<long> UInt32 { get; } = Of<long, UInt32Array.Builder>("UInt32", UInt32Type.Default, (b, v) => b.Append(checked((uint)v)), b => b.Build());

    /// <summary>A long: <c>Int64</c> (sums of money in micros).</summary>
    public static ColumnType<long> Int64 { get; } = Of<long, Int64Array.Builder>("Int64", Int64Type.Default, (b, v) => b.Append(v), b => b.Build());

    /// <summary>A count: a long that is never negative.</summary>
    public static ColumnType<long> UInt64 { get; } = Of<long, UInt64Array.Builder>("UInt64", UInt64Type.Default, (b, v) => b.Append(checked((ulong)v)), b => b.Build());

    /// <summary>A double: <c>Float64</c>.</summary>
    public static ColumnType<double> Float64 { get; } = Of<double, DoubleArray.Builder>("Float64", DoubleType.Default, (b, v) => b.Append(v), b => b.Build());

    /// <summary>A string: <c>String</c>.</summary>
    public static ColumnType<string> String { get; } = Of<string, StringArray.Builder>("String", StringType.Default, (b, v) => b.Append(v), b => b.Build());

    /// <summary>A string given as its UTF-8 bytes (names cached as bytes are written without encoding them again).</summary>
    public static ColumnType<byte[]> Utf8 { get; } = Of<byte[], StringArray.Builder>("String", StringType.Default, (b, v) => b.Append(v.AsSpan()), b => b.Build());

    /// <summary>A point in time in milliseconds since the Unix epoch, as <c>DateTime64(3, 'UTC')</c>.</summary>
    public static ColumnType<long> DateTime64Ms { get; } = Of<long, TimestampArray.Builder>(
        "DateTime64(3, 'UTC')", Milliseconds, () => new TimestampArray.Builder(Milliseconds), (b, v) => b.Append(DateTimeOffset.FromUnixTimeMilliseconds(v)), b => b.Build());

    private static TimestampType Milliseconds => new(TimeUnit.Millisecond, "UTC");

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
        return new ColumnType<IEnumerable<T>>($"Array({elements.ClickHouse})", new ListType(elements.Arrow),
            rows => new ListArray.Builder(elements.Arrow).Reserve(rows),
            (builder, values) =>
            {
                var list = (ListArray.Builder)builder;
                list.Append();
                foreach (var value in values)
                {
                    elements.Append(list.ValueBuilder, value);
                }
            },
            builder => ((ListArray.Builder)builder).Build());
    }

    private static ColumnType<T> Of<T, TBuilder>(string clickHouse, IArrowType arrow, Action<TBuilder, T> append, Func<TBuilder, IArrowArray> build)
        where TBuilder : IArrowArrayBuilder<IArrowArray, TBuilder>, new() =>
        Of(clickHouse, arrow, () => new TBuilder(), append, build);

    // The builder must be the one Arrow's factory makes for the type: array columns append elements to the list's own.
    private static ColumnType<T> Of<T, TBuilder>(string clickHouse, IArrowType arrow, Func<TBuilder> create, Action<TBuilder, T> append, Func<TBuilder, IArrowArray> build)
        where TBuilder : IArrowArrayBuilder<IArrowArray, TBuilder> =>
        new(clickHouse, arrow, rows => create().Reserve(rows), (b, v) => append((TBuilder)b, v), b => build((TBuilder)b));
}

/// <summary>A column type whose values are <typeparamref name="T"/>.</summary>
public sealed class ColumnType<T> : ColumnType
{
    private readonly Func<int, IArrowArrayBuilder> _create;
    private readonly Action<IArrowArrayBuilder, T> _append;
    private readonly Func<IArrowArrayBuilder, IArrowArray> _build;

    internal ColumnType(string clickHouse, IArrowType arrow, Func<int, IArrowArrayBuilder> create, Action<IArrowArrayBuilder, T> append, Func<IArrowArrayBuilder, IArrowArray> build)
        : base(clickHouse, arrow)
    {
        _create = create;
        _append = append;
        _build = build;
    }

    internal override IArrowArrayBuilder CreateBuilder(int rows) => _create(rows);

    internal void Append(IArrowArrayBuilder builder, T value) => _append(builder, value);

    internal override IArrowArray Build(IArrowArrayBuilder builder) => _build(builder);

    internal ColumnType<T> Renamed(string clickHouse) => new(clickHouse, Arrow, _create, _append, _build);
}
