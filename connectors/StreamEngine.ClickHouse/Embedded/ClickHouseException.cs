using System.Globalization;
using System.Text.RegularExpressions;

namespace StreamEngine.ClickHouse;

/// <summary>An error ClickHouse reported, with its numeric code and name (e.g. 62, SYNTAX_ERROR).</summary>
public sealed partial class ClickHouseException : Exception
{
    public ClickHouseException(int code, string? errorName, string message)
        : base(message)
    {
        Code = code;
        ErrorName = errorName;
    }

    public ClickHouseException()
        : this(0, null, "ClickHouse reported an error")
    {
    }

    public ClickHouseException(string message)
        : this(0, null, message)
    {
    }

    public ClickHouseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>ClickHouse's error code (see ErrorCodes.cpp); 0 when the text carried none.</summary>
    public int Code { get; }

    /// <summary>ClickHouse's error name such as <c>UNKNOWN_TABLE</c>, when the text carried one.</summary>
    public string? ErrorName { get; }

    /// <summary>Builds the exception from ClickHouse's text, <c>Code: 62. DB::Exception: ... (SYNTAX_ERROR)</c>.</summary>
    public static ClickHouseException FromServerText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var code = CodePattern().Match(trimmed) is { Success: true } c ? int.Parse(c.Groups[1].ValueSpan, CultureInfo.InvariantCulture) : 0;
        var name = NamePattern().Match(trimmed) is { Success: true } n ? n.Groups[1].Value : null;
        return new ClickHouseException(code, name, trimmed);
    }

    [GeneratedRegex(@"^Code:\s*(\d+)")]
    private static partial Regex CodePattern();

    [GeneratedRegex(@"\(([A-Z][A-Z0-9_]+)\)(?:\s*\(version [^)]*\))?\s*$")]
    private static partial Regex NamePattern();
}
