using Apache.Arrow;
using Apache.Arrow.Types;

namespace StreamEngine.Runtime.Results;

/// <summary>A result column being written row by row (<see cref="ColumnType.CreateColumn"/>), in rented buffers.</summary>
internal abstract class ValueColumn
{
    /// <summary>Values appended so far.</summary>
    public abstract int Count { get; }

    public abstract IArrowArray Build();
}

/// <summary>A result column whose values are <typeparamref name="T"/>.</summary>
internal abstract class ValueColumn<T> : ValueColumn
{
    public abstract void Append(T value);
}

/// <summary>Values stored as <typeparamref name="TStored"/> (checked conversions refuse what the type cannot hold).</summary>
internal sealed class FixedValues<T, TStored>(FixedColumn<TStored> column, IArrowType type, Func<T, TStored> convert) : ValueColumn<T>
    where TStored : unmanaged
{
    public override int Count => column.Count;

    public override void Append(T value) => column.Append(convert(value));

    public override IArrowArray Build() => column.Build(type);
}

/// <summary>Strings, from .NET strings or cached UTF-8 bytes.</summary>
internal sealed class Utf8Values<T>(Utf8Column column, Action<Utf8Column, T> append) : ValueColumn<T>
{
    public override int Count => column.Count;

    public override void Append(T value) => append(column, value);

    public override IArrowArray Build() => column.Build();
}

/// <summary>Arrays: each row's elements appended to one element column, with the offset where the row ends.</summary>
internal sealed class ListValues<T> : ValueColumn<IEnumerable<T>>
{
    private readonly FixedColumn<int> _offsets;
    private readonly ValueColumn<T> _elements;
    private readonly ListType _type;

    public ListValues(FixedColumn<int> offsets, ValueColumn<T> elements, ListType type)
    {
        _offsets = offsets;
        _elements = elements;
        _type = type;
        _offsets.Append(0);
    }

    public override int Count => _offsets.Count - 1;

    public override void Append(IEnumerable<T> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        foreach (var element in value)
        {
            _elements.Append(element);
        }

        _offsets.Append(_elements.Count);
    }

    public override IArrowArray Build() => new ListArray(_type, Count, _offsets.Values, _elements.Build(), ArrowBuffer.Empty, 0, 0);
}
