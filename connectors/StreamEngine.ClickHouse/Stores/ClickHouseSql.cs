using System.Text;
using Apache.Arrow;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>Small pieces of SQL the stores share: quoting, and the INSERT header for an Arrow batch.</summary>
public static class ClickHouseSql
{
    /// <summary>
    /// A string literal: single quotes, with backslashes, quotes and NUL escaped, so ClickHouse reads back exactly
    /// <paramref name="value"/> (a raw NUL would end the query text chDB is handed).
    /// </summary>
    public static string Literal(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal) + "'";
    }

    /// <summary>An identifier in backquotes (a dotted db.table name keeps its dot).</summary>
    public static string Identifier(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return string.Join('.', name.Split('.').Select(part => "`" + part.Replace("`", "\\`", StringComparison.Ordinal) + "`"));
    }

    /// <summary>
    /// <c>INSERT INTO t (a, b) SETTINGS optimize_on_insert = 0[, insert_deduplication_token = '...'][, log_comment = '...']</c> for a batch's
    /// columns; the comment (a correlation id) lands in <c>system.query_log</c>.
    /// </summary>
    public static string InsertHeader(string table, Schema schema, string? deduplicationToken, string? logComment = null)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var sql = new StringBuilder("INSERT INTO ").Append(Identifier(table)).Append(" (")
            .AppendJoin(", ", schema.FieldsList.Select(f => Identifier(f.Name))).Append(')');
        // Every table the engine writes is a ReplacingMergeTree read through its newest-version rule (argMax views,
        // FINAL): collapsing a block's equal keys while inserting it is work a read or a background merge does
        // anyway, and it took 40% of the raw events' insert time in a catch-up (bench/RESULTS.md).
        var settings = new List<string> { "optimize_on_insert = 0" };
        if (deduplicationToken is not null)
        {
            settings.Add("insert_deduplication_token = " + Literal(deduplicationToken));
        }

        if (logComment is not null)
        {
            settings.Add("log_comment = " + Literal(logComment));
        }

        if (settings.Count > 0)
        {
            sql.Append(" SETTINGS ").AppendJoin(", ", settings);
        }

        return sql.ToString();
    }
}
