using Apache.Arrow;
using Apache.Arrow.Types;
using StreamEngine.Core.Dsl;
using StreamEngine.Core.Windowing;

namespace StreamEngine.Runtime.Results;

/// <summary>
/// A job's results table, declared once (<see cref="ResultTable.Of{TKey,TResult}"/>): from the declaration come the
/// table and the analysts' views (<see cref="Schema"/>, turned into DDL by the store) and the rows of each batch of
/// results (<see cref="ToRows"/>), so a column is named in one place.
/// </summary>
public abstract class ResultTable<TKey, TResult>
    where TKey : notnull
{
    private protected ResultTable(ResultTableSchema schema) => Schema = schema;

    /// <summary>The declaration as the store needs it: columns, merge rules, views.</summary>
    public ResultTableSchema Schema { get; }

    /// <summary>The batch's rows for the table (null when it has none): window start, keys, partition, values, version, finality.</summary>
    public abstract TableRows? ToRows(IReadOnlyList<WindowResult<TKey, TResult>> results);
}

/// <summary>Declares results tables.</summary>
public static class ResultTable
{
    /// <summary>A batch of results as rows, one Arrow batch per table that has rows.</summary>
    public static IReadOnlyList<TableRows> ToRows<TKey, TResult>(this IReadOnlyList<ResultTable<TKey, TResult>> tables, IReadOnlyList<WindowResult<TKey, TResult>> results)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(tables);
        var rows = new List<TableRows>(tables.Count);
        try
        {
            foreach (var table in tables)
            {
                if (table.ToRows(results) is { } built)
                {
                    rows.Add(built);
                }
            }

            return rows;
        }
        catch
        {
            foreach (var built in rows)
            {
                built.Rows.Dispose(); // their buffers go back to the pool
            }

            throw;
        }
    }

    /// <summary>A table with one row per window: each (key, window, partition)'s newest result in the batch.</summary>
    public static ResultTableBuilder<TKey, TResult, TResult> Of<TKey, TResult>(string name)
        where TKey : notnull =>
        new(name, static results => results.LatestPerWindow().Select(r => (r, r.Value)));

    /// <summary>
    /// A table with the rows <paramref name="rows"/> makes of a batch (several per result, e.g. the parts of a
    /// breakdown, told apart by <see cref="ResultTableBuilder{TKey,TResult,TRow}.Part{T}"/> columns), each with the result
    /// whose window, partition and version it carries.
    /// </summary>
    public static ResultTableBuilder<TKey, TResult, TRow> Of<TKey, TResult, TRow>(
        string name, Func<IReadOnlyList<WindowResult<TKey, TResult>>, IEnumerable<(WindowResult<TKey, TResult> Result, TRow Row)>> rows)
        where TKey : notnull =>
        new(name, rows);
}

/// <summary>
/// Builds a results table's declaration: window keys, row keys (parts), values with their merge rule, and the views'
/// columns in the order analysts see them (values under their names, or hidden, and derived expressions between them).
/// </summary>
public sealed class ResultTableBuilder<TKey, TResult, TRow>
    where TKey : notnull
{
    private readonly string _name;
    private readonly Func<IReadOnlyList<WindowResult<TKey, TResult>>, IEnumerable<(WindowResult<TKey, TResult> Result, TRow Row)>> _rows;
    private readonly List<(StoredColumn Column, ColumnWriter Write)> _windowKeys = [];
    private readonly List<(StoredColumn Column, ColumnWriter Write)> _rowKeys = [];
    private readonly List<(StoredColumn Column, ColumnWriter Write)> _values = [];
    private readonly List<MergedValue> _merged = [];
    private readonly List<ViewColumn> _viewColumns = [];
    private readonly List<ResultView> _views = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal)
    {
        ResultTableSchema.WindowStart, ResultTableSchema.SourcePartition, ResultTableSchema.Version, ResultTableSchema.IsFinal, ResultTableSchema.WrittenAt,
    };

    internal ResultTableBuilder(string name, Func<IReadOnlyList<WindowResult<TKey, TResult>>, IEnumerable<(WindowResult<TKey, TResult> Result, TRow Row)>> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        _name = Identifier(name);
        _rows = rows;
    }

    /// <summary>Writes one cell of a row into its column.</summary>
    internal delegate void ColumnWriter(ValueColumn column, in WindowResult<TKey, TResult> result, TRow row);

    /// <summary>A key column from the window's key (e.g. the campaign): part of the sort key and of every view's grouping.</summary>
    public ResultTableBuilder<TKey, TResult, TRow> Key<T>(string name, ColumnType<T> type, Func<TKey, T> value)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(value);
        if (_rowKeys.Count > 0 || _values.Count > 0)
        {
            throw new InvalidOperationException($"{_name}: declare the window keys ({name}) before parts and values");
        }

        _windowKeys.Add((new StoredColumn(Claim(name), type), (ValueColumn c, in WindowResult<TKey, TResult> r, TRow _) => ((ValueColumn<T>)c).Append(value(r.Key))));
        return this;
    }

    /// <summary>A key column from the row (a part of a breakdown, e.g. the country): rows of one window are told apart by it.</summary>
    public ResultTableBuilder<TKey, TResult, TRow> Part<T>(string name, ColumnType<T> type, Func<TRow, T> value)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(value);
        if (_values.Count > 0)
        {
            throw new InvalidOperationException($"{_name}: declare the parts ({name}) before the values");
        }

        _rowKeys.Add((new StoredColumn(Claim(name), type), (ValueColumn c, in WindowResult<TKey, TResult> _, TRow row) => ((ValueColumn<T>)c).Append(value(row))));
        return this;
    }

    /// <summary>A value, merged across partitions by <paramref name="merge"/> and shown in the views as <paramref name="shownAs"/> (its own name by default).</summary>
    public ResultTableBuilder<TKey, TResult, TRow> Column<T>(string name, ColumnType<T> type, Func<TRow, T> value, Merge merge, string? shownAs = null)
    {
        Stored(name, type, value, merge);
        return Derived(shownAs ?? name, name);
    }

    /// <summary>A value added up across partitions and shown under its name (a count or a sum).</summary>
    public ResultTableBuilder<TKey, TResult, TRow> Sum<T>(string name, ColumnType<T> type, Func<TRow, T> value) => Column(name, type, value, Merge.Sum);

    /// <summary>A value merged by <paramref name="merge"/> that the views do not show as is (derived columns use it).</summary>
    public ResultTableBuilder<TKey, TResult, TRow> Stored<T>(string name, ColumnType<T> type, Func<TRow, T> value, Merge merge)
    {
        ArgumentNullException.ThrowIfNull(merge);
        AddValue(name, type, value);
        _merged.Add(new MergedValue(name, merge, [name]));
        return this;
    }

    /// <summary>
    /// Bucket counts (a histogram, or a sketch's buckets), stored as two arrays, <paramref name="bucketsColumn"/> and
    /// <paramref name="countsColumn"/>, and merged bucket by bucket under <paramref name="merged"/>: a tuple of the sorted
    /// bucket keys and their counts (<c>merged.1</c>, <c>merged.2</c>) for derived columns to read.
    /// </summary>
    public ResultTableBuilder<TKey, TResult, TRow> BucketCounts<TBucket>(
        string merged, string bucketsColumn, ColumnType<TBucket> bucketType, string countsColumn, Func<TRow, IReadOnlyList<(TBucket Bucket, long Count)>> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        AddValue(bucketsColumn, ColumnType.ArrayOf(bucketType), row => value(row).Select(b => b.Bucket));
        AddValue(countsColumn, ColumnType.ArrayOf(ColumnType.UInt64), row => value(row).Select(b => b.Count));
        _merged.Add(new MergedValue(Claim(merged), Merge.SumByBucket, [bucketsColumn, countsColumn]));
        return this;
    }

    /// <summary>
    /// HyperLogLog registers (equal-length arrays), merged element by element under <paramref name="merged"/>: the
    /// registers of the union, for a derived column to estimate from.
    /// </summary>
    public ResultTableBuilder<TKey, TResult, TRow> Registers(string merged, string column, Func<TRow, IEnumerable<byte>> value)
    {
        AddValue(column, ColumnType.ArrayOf(ColumnType.UInt8), value);
        _merged.Add(new MergedValue(Claim(merged), Merge.MaxByElement, [column]));
        return this;
    }

    /// <summary>A view column computed from the merged values and keys (a ClickHouse expression), e.g. a rate or a quantile.</summary>
    public ResultTableBuilder<TKey, TResult, TRow> Derived(string name, string expression)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(expression);
        _viewColumns.Add(new ViewColumn(Identifier(name), expression));
        return this;
    }

    /// <summary>
    /// An analysts' view grouping by the window and <paramref name="keys"/> (a subset of the keys, window keys included;
    /// parts left out are added up). Without any, one view named as the table groups by every key.
    /// </summary>
    public ResultTableBuilder<TKey, TResult, TRow> View(string name, params string[] keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var known = _windowKeys.Concat(_rowKeys).Select(k => k.Column.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (!known.Contains(key))
            {
                throw new InvalidOperationException($"{_name}: view {name} groups by {key}, which is not a key of the table ({string.Join(", ", known)})");
            }
        }

        _views.Add(new ResultView(Identifier(name), keys));
        return this;
    }

    /// <summary>The declared table; throws when the declaration is incomplete or ambiguous (no key, no value, a name twice).</summary>
    public ResultTable<TKey, TResult> Build()
    {
        if (_windowKeys.Count == 0)
        {
            throw new InvalidOperationException($"{_name}: a results table needs a key column");
        }

        if (_values.Count == 0)
        {
            throw new InvalidOperationException($"{_name}: a results table needs a value column");
        }

        var keyNames = _windowKeys.Concat(_rowKeys).Select(k => k.Column.Name).Append(ResultTableSchema.WindowStart).ToHashSet(StringComparer.Ordinal);
        var merged = _merged.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var shown = new HashSet<string>(StringComparer.Ordinal);
        foreach (var column in _viewColumns)
        {
            // A view column named like a key or like another merged value would make a cyclic or ambiguous alias in the view.
            if (!shown.Add(column.Name) || keyNames.Contains(column.Name) || (merged.Contains(column.Name) && column.Expression != column.Name))
            {
                throw new InvalidOperationException($"{_name}: the view column {column.Name} is declared twice, or is named like a key or a merged value it does not show");
            }
        }

        var views = _views.Count > 0 ? _views.ToList() : [new ResultView(_name, [.. _windowKeys.Concat(_rowKeys).Select(k => k.Column.Name)])];
        var schema = new ResultTableSchema(_name, [.. _windowKeys.Select(k => k.Column)], [.. _rowKeys.Select(k => k.Column)],
            [.. _values.Select(v => v.Column)], [.. _merged], [.. _viewColumns], views);
        return new Declared(schema, _rows, [.. _windowKeys, .. _rowKeys, .. _values]);
    }

    private void AddValue<T>(string name, ColumnType<T> type, Func<TRow, T> value)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(value);
        _values.Add((new StoredColumn(Claim(name), type), (ValueColumn c, in WindowResult<TKey, TResult> _, TRow row) => ((ValueColumn<T>)c).Append(value(row))));
    }

    private string Claim(string name)
    {
        var identifier = Identifier(name);
        if (!_names.Add(identifier))
        {
            throw new InvalidOperationException($"{_name}: the column name {identifier} is declared twice or is one the library adds");
        }

        return identifier;
    }

    /// <summary>Names go into DDL unquoted: lower-case letters, digits and underscores, starting with a letter.</summary>
    private static string Identifier(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!char.IsAsciiLetterLower(name[0]) || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException($"'{name}' is not a valid result table or column name: use lower-case letters, digits and underscores, starting with a letter", nameof(name));
        }

        return name;
    }

    /// <summary>The declared table: writes each batch's rows column by column into rented buffers, then one Arrow batch over them.</summary>
    private sealed class Declared(
        ResultTableSchema schema,
        Func<IReadOnlyList<WindowResult<TKey, TResult>>, IEnumerable<(WindowResult<TKey, TResult> Result, TRow Row)>> rows,
        IReadOnlyList<(StoredColumn Column, ColumnWriter Write)> columns) : ResultTable<TKey, TResult>(schema)
    {
        private static readonly IArrowType Milliseconds = ColumnType.DateTime64Ms.Arrow;

        /// <summary>Rows per result in the previous batch: the next is sized by it, so its columns seldom grow and a small batch after a large one stays small.</summary>
        private double _rowsPerResult = 1;

        public override TableRows? ToRows(IReadOnlyList<WindowResult<TKey, TResult>> results)
        {
            ArgumentNullException.ThrowIfNull(results);
            var expected = (int)Math.Clamp(Math.Ceiling(results.Count * Volatile.Read(ref _rowsPerResult)), 16, 1 << 24);
            var buffers = new ColumnBuffers();
            try
            {
                var windowStart = buffers.Fixed<long>(expected);
                var partition = buffers.Fixed<int>(expected);
                var version = buffers.Fixed<ulong>(expected);
                var final = buffers.Fixed<byte>(expected);
                var cells = columns.Select(c => c.Column.Type.CreateColumn(buffers, expected)).ToArray();
                foreach (var (result, row) in rows(results))
                {
                    windowStart.Append(result.WindowStartMs);
                    // -1: one state spans every partition (no partition's partial); stored as partition 0.
                    partition.Append(Math.Max(0, result.Partition));
                    version.Append(checked((ulong)result.Version));
                    final.Append(result.IsFinal ? (byte)1 : (byte)0);
                    for (var i = 0; i < cells.Length; i++)
                    {
                        try
                        {
                            columns[i].Write(cells[i], result, row);
                        }
                        catch (Exception e) when (e is OverflowException or ArgumentNullException)
                        {
                            // A value the column's type cannot hold (a negative count, a bucket past Int16, a null string) is
                            // stored wrapped or empty by nothing: the job stops naming the column, the key and the window rather than write it wrong.
                            throw new InvalidOperationException(
                                $"{Schema.Table}.{columns[i].Column.Name} ({columns[i].Column.Type.ClickHouse}) cannot hold the value of key {result.Key}, " +
                                $"window {DateTimeOffset.FromUnixTimeMilliseconds(result.WindowStartMs):u}, partition {result.Partition}: {e.Message}", e);
                        }
                    }
                }

                if (windowStart.Count == 0)
                {
                    buffers.Release();
                    return null;
                }

                Volatile.Write(ref _rowsPerResult, (double)windowStart.Count / results.Count);
                var batch = new List<(string, IArrowArray)>(cells.Length + 4) { (ResultTableSchema.WindowStart, windowStart.Build(Milliseconds)) };
                var keys = Schema.WindowKeys.Count;
                for (var i = 0; i < cells.Length; i++)
                {
                    if (i == keys)
                    {
                        batch.Add((ResultTableSchema.SourcePartition, partition.Build(Int32Type.Default)));
                    }

                    batch.Add((columns[i].Column.Name, cells[i].Build()));
                }

                batch.Add((ResultTableSchema.Version, version.Build(UInt64Type.Default)));
                batch.Add((ResultTableSchema.IsFinal, final.Build(UInt8Type.Default)));
                return new TableRows(Schema.Table, buffers.ToBatch(batch));
            }
            catch
            {
                buffers.Release();
                throw;
            }
        }
    }
}
