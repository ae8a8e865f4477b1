using System.Text;
using Apache.Arrow;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>Small pieces of SQL the stores share: quoting, and the INSERT header for an Arrow batch.</summary>
public static class ClickHouseSql
{
    /// <summary>A string literal: single quotes, with backslashes and quotes escaped.</summary>
    public static string Literal(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
    }

    /// <summary>An identifier in backquotes (a dotted db.table name keeps its dot).</summary>
    public static string Identifier(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return string.Join('.', name.Split('.').Select(part => "`" + part.Replace("`", "\\`", StringComparison.Ordinal) + "`"));
    }

    /// <summary><c>INSERT INTO t (a, b) [SETTINGS insert_deduplication_token = '...']</c> for a batch's columns.</summary>
    public static string InsertHeader(string table, Schema schema, string? deduplicationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var sql = new StringBuilder("INSERT INTO ").Append(Identifier(table)).Append(" (")
            .AppendJoin(", ", schema.FieldsList.Select(f => Identifier(f.Name))).Append(')');
        if (deduplicationToken is not null)
        {
            sql.Append(" SETTINGS insert_deduplication_token = ").Append(Literal(deduplicationToken));
        }

        return sql.ToString();
    }
}
