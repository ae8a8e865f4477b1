using System.Text.RegularExpressions;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>
/// A ClickHouse cluster the schema is made on (<c>clickhouse.cluster</c>): every statement runs <c>ON CLUSTER</c>;
/// declared results tables become a Replicated table per shard (<c>NAME_results_local</c>) under a Distributed table
/// (<c>NAME_results</c>, sharded by the keys, so a key's versions meet on one shard) that inserts and views go through;
/// every other table (the engine's checkpoints and migrations, a job's own tables) is replicated to every server
/// (one replica set for the whole cluster: the checkpoints each engine reads must be the same wherever it connects).
/// The servers need the <c>{replica}</c> macro (unique per server) and Keeper; inserts into Distributed tables need
/// <c>distributed_foreground_insert = 1</c> in the engine user's profile, so a write is stored when it is acknowledged
/// (docs/operations.md).
/// </summary>
public sealed partial record ClickHouseCluster
{
    public ClickHouseCluster(string name)
    {
        if (!ValidName().IsMatch(name ?? ""))
        {
            throw new ArgumentException($"'{name}' is not a cluster name (letters, digits, _ and -, as in the servers' remote_servers)", nameof(name));
        }

        Name = name!;
    }

    /// <summary>The cluster's name in the servers' <c>remote_servers</c>.</summary>
    public string Name { get; }

    /// <summary>The clause that runs a statement on every server of the cluster.</summary>
    public string OnCluster => $"ON CLUSTER {ClickHouseSql.Identifier(Name)}";

    /// <summary>
    /// A statement written for one server, for the cluster: <c>ON CLUSTER</c> after the object it creates or alters, and a
    /// MergeTree engine replicated to every server under a Keeper path of its own (<c>/clickhouse/streamengine/DB/TABLE</c>).
    /// Statements that change no schema pass unchanged.
    /// </summary>
    public string Adapt(string statement, string database)
    {
        ArgumentNullException.ThrowIfNull(statement);
        ArgumentNullException.ThrowIfNull(database);
        if (OnClusterAlready().IsMatch(statement))
        {
            return statement; // written for a cluster by its author
        }

        var ddl = SchemaObject().Match(statement);
        if (!ddl.Success)
        {
            // Statements that change no schema (INSERT, SELECT) run on the server the engine talks to; any other schema
            // change would run there alone, so it is refused rather than half applied.
            return OtherSchemaChange().IsMatch(statement)
                ? throw new NotSupportedException($"this statement cannot be made for cluster {Name}: write it with ON CLUSTER yourself, or as a declared table: {Head(statement)}")
                : statement;
        }

        var createsTable = ddl.Value.Contains("TABLE", StringComparison.OrdinalIgnoreCase) && ddl.Value.TrimStart().StartsWith("CREATE", StringComparison.OrdinalIgnoreCase);
        if (createsTable && ddl.Value.Contains("REPLACE", StringComparison.OrdinalIgnoreCase))
        {
            // The replicated table's Keeper path is fixed per table: a replacement would find its replicas there.
            throw new NotSupportedException($"CREATE OR REPLACE TABLE cannot be made for cluster {Name}: create the table once (IF NOT EXISTS) and alter it: {Head(statement)}");
        }

        if (createsTable && !MergeTreeEngine().IsMatch(statement))
        {
            throw new NotSupportedException(
                $"this table's engine cannot be replicated for cluster {Name} (MergeTree, ReplacingMergeTree, SummingMergeTree, AggregatingMergeTree and " +
                $"CollapsingMergeTree with plain arguments can): {Head(statement)}");
        }

        var name = ddl.Groups["name"].Value;
        var adapted = statement.Insert(ddl.Index + ddl.Length, " " + OnCluster);
        var table = name[(name.LastIndexOf('.') + 1)..].Trim('`');
        return MergeTreeEngine().Replace(adapted, m =>
        {
            var path = ClickHouseSql.Literal($"/clickhouse/streamengine/{database}/{table}");
            var arguments = m.Groups["args"].Value.Trim();
            return $"ENGINE = Replicated{m.Groups["kind"].Value}MergeTree({path}, '{{replica}}'{(arguments.Length > 0 ? ", " + arguments : "")})";
        }, 1);
    }

    private static string Head(string statement) => statement.Length <= 120 ? statement : statement[..120] + "...";

    [GeneratedRegex(@"\bON\s+CLUSTER\b", RegexOptions.IgnoreCase)]
    private static partial Regex OnClusterAlready();

    [GeneratedRegex(@"^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE|EXCHANGE|ATTACH|DETACH)\b", RegexOptions.IgnoreCase)]
    private static partial Regex OtherSchemaChange();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")]
    private static partial Regex ValidName();

    /// <summary>The head of a statement that creates or alters a schema object, up to the object's name.</summary>
    [GeneratedRegex(@"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW|DATABASE)(?:\s+IF\s+NOT\s+EXISTS)?|ALTER\s+TABLE)\s+(?<name>[`\w{}.]+)", RegexOptions.IgnoreCase)]
    private static partial Regex SchemaObject();

    [GeneratedRegex(@"ENGINE\s*=\s*(?<kind>Replacing|Summing|Aggregating|Collapsing|)MergeTree(?:\((?<args>[^()]*)\))?(?=\s|$)", RegexOptions.IgnoreCase)]
    private static partial Regex MergeTreeEngine();
}
