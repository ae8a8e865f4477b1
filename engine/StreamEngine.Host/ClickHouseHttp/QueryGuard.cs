using System.Text;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Stores;

namespace StreamEngine.Host.ClickHouseHttp;

/// <summary>
/// Decides whether a statement may run on the endpoint, reading it with ClickHouse's own parser rather than a
/// splitter of ours (so comments, quoting and nesting cannot hide anything): <c>formatQuery</c> refuses a second
/// statement and gives the one statement in canonical form, without comments; <c>EXPLAIN AST</c> of that gives its
/// tree. What it refuses, for every user: anything that reaches the engine's filesystem or network (table functions
/// and engines outside an allowlist, <c>file()</c> and its kin anywhere, <c>INTO OUTFILE</c>, <c>FROM INFILE</c>,
/// disks declared in a query, dictionary sources other than a local table, <c>ATTACH ... FROM</c> a path,
/// <c>BACKUP</c>/<c>RESTORE</c>) and <c>SYSTEM</c> statements (the engine manages its store). For read-only users,
/// also every setting outside <see cref="ReadOnlySettings"/>, since chDB's <c>readonly=1</c> still lets a query
/// change settings, and the limits are settings.
/// </summary>
internal static class QueryGuard
{
    /// <summary>Table functions that read only what the query itself holds or the store's own tables.</summary>
    private static readonly HashSet<string> TableFunctions = new(StringComparer.OrdinalIgnoreCase)
    {
        "numbers", "numbers_mt", "zeros", "zeros_mt", "generateRandom", "generate_series", "generateSeries", "values", "null", "view", "merge", "input", "format",
    };

    /// <summary>Table and database engines that keep their data in the store's own folder (a quoted name is not one of them).</summary>
    private static readonly HashSet<string> Engines = new(StringComparer.OrdinalIgnoreCase)
    {
        "MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree", "CollapsingMergeTree", "VersionedCollapsingMergeTree",
        "CoalescingMergeTree", "GraphiteMergeTree", "Memory", "Null", "Log", "TinyLog", "StripeLog", "Set", "Join", "Buffer", "Merge", "GenerateRandom",
        "Dictionary", "Atomic", "Ordinary", "Lazy",
    };

    /// <summary>Functions refused wherever they appear: they read the engine's files or tell about its machine.</summary>
    private static readonly HashSet<string> DeniedFunctions = new(StringComparer.OrdinalIgnoreCase)
    {
        "file", "fileCluster", "url", "urlCluster", "s3", "s3Cluster", "hdfs", "hdfsCluster", "remote", "remoteSecure", "cluster", "clusterAllReplicas",
        "executable", "catboostEvaluate", "modelEvaluate", "addressToLine", "addressToLineWithInlines", "addressToSymbol", "demangle",
        "filesystemAvailable", "filesystemCapacity", "filesystemUnreserved", "disk",
    };

    /// <summary>
    /// Settings nobody may set, in the URL or the query: they name files (format schemas, templates), hold SQL that
    /// no check sees (filters), choose an engine for a table that names none, make the Values format evaluate
    /// expressions (file() inside inserted data), or change the read-only mode. ("file" also matches the query
    /// profilers' settings, which must stay off in the embedded store: see EmbeddedClickHouse.NoSignals.)
    /// </summary>
    public static bool IsDeniedSetting(string name) =>
        DeniedSettingParts.Any(part => name.Contains(part, StringComparison.OrdinalIgnoreCase)) || name.StartsWith("input_format_values_", StringComparison.OrdinalIgnoreCase);

    private static readonly string[] DeniedSettingParts = ["schema", "template", "path", "file", "secret", "filter", "engine", "readonly"];

    /// <summary>Settings a read-only user may set: how results are written, never what a query may use or read.</summary>
    public static bool IsReadOnlySetting(string name) =>
        !IsDeniedSetting(name) && (name.StartsWith("output_format_", StringComparison.Ordinal) || name.StartsWith("format_csv_", StringComparison.Ordinal) ||
                                   name.StartsWith("format_tsv_", StringComparison.Ordinal) || name is "date_time_output_format" or "extremes");

    /// <summary>The settings <see cref="IsReadOnlySetting"/> allows, for error messages.</summary>
    public const string ReadOnlySettings = "output_format_*, format_csv_*, format_tsv_*, date_time_output_format, extremes";

    /// <summary>Set on every connection: the Values format takes literals only, so inserted data cannot call file().</summary>
    public static readonly IReadOnlyDictionary<string, string> ForcedSettings = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["input_format_values_interpret_expressions"] = "0",
        ["input_format_values_deduce_templates_of_expressions"] = "0",
    };

    /// <summary>ClickHouse's error for a setting nobody may change here.</summary>
    public static ClickHouseException DeniedSetting(ClickHouseUser user, string name) =>
        ClickHouseErrors.Make(497, "ACCESS_DENIED", $"{user.Name}: Not enough privileges: the setting '{name}' reaches files, runs SQL no check sees, or changes what is allowed, and is not served here");

    /// <summary>
    /// Throws ClickHouse's error when <paramref name="sql"/> may not run for <paramref name="user"/>; else returns the
    /// statement to run: its canonical form, so the text checked and the text executed are the same, except for an
    /// INSERT, whose canonical form drops inline data (VALUES ...): that runs as sent, its data read as literals only
    /// (<see cref="ForcedSettings"/>).
    /// </summary>
    public static string Check(EmbeddedClickHouse connection, string sql, IReadOnlyDictionary<string, string> parameters, ClickHouseUser user, bool isGet)
    {
        var formatted = Format(connection, sql);
        var tree = Tree(connection, formatted, parameters);
        var tokens = Tokenize(formatted);
        var root = tree.Count == 0 ? "" : tree[0].Text;
        if (root.StartsWith("SYSTEM", StringComparison.Ordinal) || root.StartsWith("BackupQuery", StringComparison.Ordinal))
        {
            throw Refused(user, $"{FirstWord(formatted)} statements are not served here: the engine manages its store (backups: streamengine backup)");
        }

        if (root.StartsWith("KillQueryQuery", StringComparison.Ordinal) && (isGet || user.Role == ClickHouseRole.ReadOnly))
        {
            throw Refused(user, "KILL is for admins, over POST (every connection is the same store user: it could stop the engine's own queries)");
        }

        CheckFunctions(tree, user);
        CheckKeywords(tokens, root, tree, user);
        var settings = SettingNames(tokens, user);
        if (settings.Count < tree.Count(n => n.Text == "Set"))
        {
            throw Refused(user, "the query's settings could not be read");
        }

        foreach (var name in settings)
        {
            if (IsDeniedSetting(name))
            {
                throw DeniedSetting(user, name);
            }

            if (user.Role == ClickHouseRole.ReadOnly && !IsReadOnlySetting(name))
            {
                throw ReadOnlySetting(user, name);
            }
        }

        return root.StartsWith("InsertQuery", StringComparison.Ordinal) ? sql : formatted;
    }

    /// <summary>ClickHouse's error for a setting a read-only user may not change.</summary>
    public static ClickHouseException ReadOnlySetting(ClickHouseUser user, string name) =>
        ClickHouseErrors.Make(164, "READONLY", $"{user.Name}: Cannot modify '{name}' setting in readonly mode (read-only users may set {ReadOnlySettings})");

    private static ClickHouseException Refused(ClickHouseUser user, string why) =>
        ClickHouseErrors.Make(497, "ACCESS_DENIED", $"{user.Name}: Not enough privileges: {why}");

    /// <summary>
    /// The statement in canonical form, or ClickHouse's syntax error (a second statement is one). The text goes in as
    /// a string literal with every quote and backslash escaped, so ClickHouse reads exactly the bytes that came (a
    /// bound parameter would be unescaped once more, and the check would read other text than the one that runs).
    /// </summary>
    private static string Format(EmbeddedClickHouse connection, string sql)
    {
        using var result = connection.Query($"SELECT formatQuerySingleLine({ClickHouseSql.Literal(sql)})", "TSVRaw");
        return result.Text.TrimEnd('\n');
    }

    private static List<(int Depth, string Text)> Tree(EmbeddedClickHouse connection, string formatted, IReadOnlyDictionary<string, string> parameters)
    {
        using var result = connection.Query("EXPLAIN AST " + formatted, "TSVRaw", parameters);
        return [.. result.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => (line.Length - line.TrimStart(' ').Length, line.Trim()))];
    }

    /// <summary>
    /// Every function node: in a table position (a FROM, a JOIN, INSERT INTO FUNCTION, a CREATE ... AS) from the
    /// table functions allowed, and never a denied one.
    /// </summary>
    private static void CheckFunctions(List<(int Depth, string Text)> tree, ClickHouseUser user)
    {
        for (var i = 0; i < tree.Count; i++)
        {
            if (!tree[i].Text.StartsWith("Function ", StringComparison.Ordinal))
            {
                continue;
            }

            var name = tree[i].Text["Function ".Length..].Split(' ')[0];
            var parent = Parent(tree, i);
            if (DeniedFunctions.Contains(name))
            {
                throw Refused(user, $"{name} reaches the engine's filesystem, network or machine and is not served here");
            }

            if (FirstWord(parent) is "TableExpression" or "InsertQuery" or "CreateQuery" && !TableFunctions.Contains(name))
            {
                throw Refused(user, $"the table function {name} is not served here (served: {string.Join(", ", TableFunctions.Order(StringComparer.Ordinal))})");
            }
        }
    }

    private static void CheckKeywords(List<Token> tokens, string root, List<(int Depth, string Text)> tree, ClickHouseUser user)
    {
        for (var i = 0; i + 1 < tokens.Count; i++)
        {
            if (tokens[i].IsWord("INTO") && tokens[i + 1].IsWord("OUTFILE") || tokens[i].IsWord("FROM") && tokens[i + 1].IsWord("INFILE"))
            {
                throw Refused(user, $"{tokens[i].Text} {tokens[i + 1].Text} reaches the engine's filesystem; the result comes back in the response");
            }

            // ENGINE = Name, of a table, a materialized view's storage or a database.
            if (tokens[i].IsWord("ENGINE") && tokens[i + 1].IsSymbol("=") && i + 2 < tokens.Count && !Engines.Contains(tokens[i + 2].Text))
            {
                throw Refused(user, $"the engine {tokens[i + 2].Text} keeps or reads data outside the store and is not served here (engines served: MergeTree family, Memory, Log family, Null, Set, Join, Buffer, Merge)");
            }

            if (tokens[i].IsWord("disk") && tokens[i + 1].IsSymbol("("))
            {
                throw Refused(user, "a disk declared in a query reaches the engine's filesystem or network; use the store's own disks");
            }

            if (root.StartsWith("AttachQuery", StringComparison.Ordinal) && tokens[i].IsWord("FROM") && tokens[i + 1].Kind == TokenKind.String)
            {
                throw Refused(user, "ATTACH ... FROM a path reaches the engine's filesystem");
            }
        }

        if (tree.Any(n => n.Text.StartsWith("Dictionary definition", StringComparison.Ordinal)))
        {
            // The one source served: a table of the store (TABLE, DB); anything else reads files, runs programs,
            // reaches other servers, or runs a query of its own that this check never sees; so do attribute EXPRESSIONs.
            if (tokens.Any(t => t.IsWord("EXPRESSION")))
            {
                throw Refused(user, "dictionary attributes with an EXPRESSION run SQL that this check never sees");
            }

            var source = tokens.FindIndex(t => t.IsWord("SOURCE"));
            var inside = new List<Token>();
            var depth = 0;
            for (var i = source + 1; source >= 0 && i < tokens.Count; i++)
            {
                depth += tokens[i].IsSymbol("(") ? 1 : tokens[i].IsSymbol(")") ? -1 : 0;
                if (depth == 0)
                {
                    break;
                }

                inside.Add(tokens[i]);
            }

            // SOURCE ( CLICKHOUSE ( TABLE 'x' DB 'y' ) ): every word inside CLICKHOUSE(...) is TABLE or DB.
            if (source < 0 || inside.Count < 3 || !inside[1].IsWord("CLICKHOUSE") ||
                inside.Skip(2).Any(t => t.Kind == TokenKind.Word && !t.IsWord("TABLE") && !t.IsWord("DB")) ||
                inside.Skip(2).Any(t => t.Kind == TokenKind.Symbol && !t.IsSymbol("(") && !t.IsSymbol(")")))
            {
                throw Refused(user, "a dictionary's source may only be a table of this store: SOURCE(CLICKHOUSE(TABLE 'name' [DB 'database']))");
            }
        }
    }

    /// <summary>
    /// The names of every setting the statement sets: <c>SETTINGS a = 1, b = 2</c> clauses anywhere, <c>SET</c>, and
    /// ALTER's <c>MODIFY SETTING</c>. In canonical form a setting is always <c>name = value</c>.
    /// </summary>
    private static List<string> SettingNames(List<Token> tokens, ClickHouseUser user)
    {
        var names = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var clause = tokens[i].IsWord("SETTINGS") || tokens[i].IsWord("SETTING") || (i == 0 && tokens[i].IsWord("SET"));
            if (!clause || !IsAssignment(tokens, i + 1))
            {
                continue;
            }

            var j = i + 1;
            while (IsAssignment(tokens, j))
            {
                names.Add(tokens[j].Text);
                j = SkipValue(tokens, j + 2);
                if (j < tokens.Count && tokens[j].IsSymbol(","))
                {
                    if (!IsAssignment(tokens, j + 1))
                    {
                        // A list this scanner cannot follow to its end may hide a setting: refuse rather than guess.
                        throw Refused(user, "the query's settings could not be read");
                    }

                    j++;
                }
            }

            i = j - 1;
        }

        return names;
    }

    /// <summary>Past one setting value: a literal (a sign and a number, a string, a word), a call, or a bracketed list.</summary>
    private static int SkipValue(List<Token> tokens, int i)
    {
        if (i < tokens.Count && tokens[i].Kind == TokenKind.Symbol && tokens[i].Text is "-" or "+")
        {
            i++;
        }

        if (i < tokens.Count && tokens[i].Kind is TokenKind.Word or TokenKind.Number or TokenKind.String or TokenKind.QuotedIdentifier)
        {
            i++;
        }

        if (i < tokens.Count && tokens[i].Kind == TokenKind.Symbol && tokens[i].Text is "(" or "[" or "{")
        {
            var depth = 0;
            do
            {
                depth += tokens[i].Kind != TokenKind.Symbol ? 0 : tokens[i].Text switch { "(" or "[" or "{" => 1, ")" or "]" or "}" => -1, _ => 0 };
                i++;
            }
            while (i < tokens.Count && depth > 0);
        }

        return i;
    }

    private static bool IsAssignment(List<Token> tokens, int i) =>
        i + 1 < tokens.Count && tokens[i].Kind is TokenKind.Word or TokenKind.QuotedIdentifier && tokens[i + 1].IsSymbol("=");

    private static string Parent(List<(int Depth, string Text)> tree, int index)
    {
        for (var i = index - 1; i >= 0; i--)
        {
            if (tree[i].Depth < tree[index].Depth)
            {
                return tree[i].Text;
            }
        }

        return "";
    }

    private static string FirstWord(string text) => text.Split(' ', 2)[0];

    private enum TokenKind
    {
        Word,
        QuotedIdentifier,
        String,
        Number,
        Symbol,
    }

    private readonly record struct Token(TokenKind Kind, string Text)
    {
        public bool IsWord(string keyword) => Kind == TokenKind.Word && Text.Equals(keyword, StringComparison.OrdinalIgnoreCase);

        public bool IsSymbol(string symbol) => Kind == TokenKind.Symbol && Text == symbol;
    }

    /// <summary>The tokens of a canonical statement: strings ('...' with backslash escapes) and quoted identifiers are one token each.</summary>
    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c is '\'' or '`' or '"')
            {
                var value = new StringBuilder();
                i++;
                while (i < text.Length && text[i] != c)
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    value.Append(text[i++]);
                }

                i++;
                tokens.Add(new Token(c == '\'' ? TokenKind.String : TokenKind.QuotedIdentifier, value.ToString()));
            }
            else if (char.IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '$'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Word, text[start..i]));
            }
            else if (char.IsDigit(c) || (c == '.' && i + 1 < text.Length && char.IsDigit(text[i + 1])))
            {
                // 1, 1.5, 1e-300, 0x1F, inf: one token, an exponent's sign included.
                var start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '.' or '_' ||
                                           (text[i] is '-' or '+' && text[i - 1] is 'e' or 'E' && !text[start..i].StartsWith("0x", StringComparison.OrdinalIgnoreCase))))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Number, text[start..i]));
            }
            else
            {
                tokens.Add(new Token(TokenKind.Symbol, c.ToString()));
                i++;
            }
        }

        return tokens;
    }
}
