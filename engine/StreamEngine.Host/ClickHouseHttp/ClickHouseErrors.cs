using StreamEngine.ClickHouse;

namespace StreamEngine.Host.ClickHouseHttp;

/// <summary>ClickHouse's mapping from error names to HTTP status codes (exceptionCodeToHTTPStatus), and its error text.</summary>
internal static class ClickHouseErrors
{
    private static readonly HashSet<string> BadRequest =
    [
        "BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING",
        "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4",
        "CANNOT_PARSE_IPV6", "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
        "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE",
        "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH", "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    ];

    private static readonly HashSet<string> NotFound =
    [
        "UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING",
        "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE",
    ];

    public const int AuthenticationFailed = 516;

    public static int StatusOf(ClickHouseException error) => error.ErrorName switch
    {
        "REQUIRED_PASSWORD" => 401,
        "UNKNOWN_USER" or "WRONG_PASSWORD" or "AUTHENTICATION_FAILED" or "SET_NON_GRANTED_ROLE" or "ACCESS_DENIED" => 403,
        { } name when BadRequest.Contains(name) => 400,
        { } name when NotFound.Contains(name) => 404,
        "QUERY_IS_TOO_LARGE" => 413,
        "NOT_IMPLEMENTED" => 501,
        "SOCKET_TIMEOUT" or "CANNOT_OPEN_FILE" or "CANNOT_SCHEDULE_TASK" => 503,
        "TIMEOUT_EXCEEDED" => 408,
        "UNSUPPORTED_MEDIA_TYPE" => 415,
        _ => 500,
    };

    /// <summary>An error of ours in ClickHouse's words, so clients parse it like the server's.</summary>
    public static ClickHouseException Make(int code, string name, string message) =>
        new(code, name, $"Code: {code}. DB::Exception: {message}. ({name})");
}
