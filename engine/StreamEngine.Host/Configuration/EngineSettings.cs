using System.Collections;
using System.Globalization;
using StreamEngine.Host.Cli;

namespace StreamEngine.Host.Configuration;

/// <summary>
/// Configuration keys and their values, from (later wins) built-in defaults, a YAML or JSON file (<c>--config</c>;
/// nested maps give dotted keys), environment variables (<c>STREAMENGINE__CLICKHOUSE__PATH</c> for
/// <c>clickhouse.path</c>) and <c>--set key=value</c>. An unknown key or a bad value is an error that names it and where
/// it came from. Kafka security settings (<c>kafka.security.protocol</c>, <c>kafka.sasl.*</c>, <c>kafka.ssl.*</c>) pass
/// through to the Kafka clients unchecked and are never shown.
/// </summary>
public sealed class EngineSettings
{
    private const string EnvironmentPrefix = "STREAMENGINE__";

    private static readonly Dictionary<string, (string Default, Func<string, string?> Check)> Known = new(StringComparer.Ordinal)
    {
        ["kafka.bootstrap"] = ("", _ => null),
        ["kafka.topic"] = ("ad-events", v => v.Length > 0 ? null : "a topic name is required"),
        ["kafka.group"] = ("", _ => null),
        ["kafka.max.poll.interval.ms"] = ("300000", v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 10_000 and <= 86_400_000 ? null : "milliseconds from 10000 to 86400000 (a consumer that does not poll for this long leaves its group; a partition claim gives up at 80% of it)"),
        ["clickhouse.mode"] = ("embedded", v => v is "embedded" or "server" ? null : "allowed: embedded, server"),
        ["clickhouse.url"] = ("http://127.0.0.1:8123/", v => Uri.TryCreate(v, UriKind.Absolute, out var u) && u.Scheme is "http" or "https" ? null : "an http:// or https:// URL"),
        ["clickhouse.user"] = ("default", _ => null),
        ["clickhouse.password"] = ("", _ => null),
        ["clickhouse.path"] = (".data/clickhouse", v => v.Length > 0 ? null : "a folder path is required"),
        ["clickhouse.database"] = ("ads", v => v.Length > 0 && v.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') ? null : "letters, digits and _ only"),
        ["clickhouse.cluster"] = ("", v => v.Length == 0 || (v.Length <= 128 && !char.IsAsciiDigit(v[0]) && v.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            ? null : "empty (one server) or the cluster's name in the servers' remote_servers (letters, digits, _ and -): schema ON CLUSTER, tables replicated, results through Distributed tables"),
        ["clickhouse.http.port"] = ("8123", v => int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) && p <= 65535 ? null : "a port from 0 (any free one) to 65535"),
        ["clickhouse.http.allowed_origins"] = ("", CheckOrigins),
        ["clickhouse.http.readonly.max_execution_time"] = ("60s", v => TryParseDuration(v, out var d) && d >= TimeSpan.FromSeconds(1) ? null : "a duration of at least 1s, such as 60s"),
        ["clickhouse.http.readonly.max_memory_usage"] = ("2147483648", v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1024 * 1024 ? null : "a number of bytes, at least 1048576"),
        ["clickhouse.http.readonly.max_result_rows"] = ("1000000", v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 ? null : "a whole number of rows, at least 1"),
        ["clickhouse.http.readonly.max_concurrent_queries"] = ("2", v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1000 ? null : "a whole number from 1 to 1000"),
        ["clickhouse.http.tls.certificate"] = ("", CheckFile),
        ["clickhouse.http.tls.key"] = ("", CheckFile),
        ["clickhouse.tls.accept_invalid_certificate"] = ("false", v => v is "true" or "false" ? null : "true (tests only: no certificate check on https://) or false"),
        ["nats.url"] = ("", v => v.Length == 0 || Uri.TryCreate(v, UriKind.Absolute, out var u) && u.Scheme is "nats" or "tls" or "ws" or "wss" ? null : "empty (no NATS output) or a nats://, tls://, ws:// or wss:// URL"),
        ["nats.jetstream"] = ("false", v => v is "true" or "false" ? null : "true (keep recent history in the ADTRACK stream; the server needs JetStream) or false"),
        ["nats.history"] = ("1h", v => TryParseDuration(v, out var d) && d >= TimeSpan.FromMinutes(1) ? null : "a duration of at least 1m, such as 1h"),
        ["nats.user"] = ("", _ => null),
        ["nats.password"] = ("", _ => null),
        ["nats.token"] = ("", _ => null),
        ["nats.credentials_file"] = ("", v => v.Length == 0 || File.Exists(v) ? null : "an existing NATS credentials file"),
        ["http.host"] = ("127.0.0.1", v => System.Net.IPAddress.TryParse(v, out _) ? null : "an IP address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface, which needs http.api_key)"),
        ["http.api_key"] = ("", v => v.Length == 0 || v.Length >= 16 ? null : "empty (no key: loopback only) or a key of at least 16 characters"),
        ["http.allowed_origins"] = ("", CheckOrigins),
        ["http.tls.certificate"] = ("", CheckFile),
        ["http.tls.key"] = ("", CheckFile),
        ["http.port"] = ("5000", v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p <= 65535 ? null : "a port from 0 (any free one) to 65535"),
        ["clickhouse.embedded.max_memory"] = ("4294967296", v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 256L << 20 ? null : "a number of bytes, at least 268435456 (the most the embedded store may hold at once: inserts, merges and queries)"),
        ["clickhouse.embedded.cache_size"] = ("268435456", v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? null : "a number of bytes (each of the embedded store's mark and index caches)"),
        ["clickhouse.raw_events"] = ("true", v => v is "true" or "false" ? null : "true (write ads.events) or false"),
        ["pricing.min_samples"] = ("200", v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 ? null : "a whole number of bids, at least 1"),
        ["pricing.max_step_change"] = ("0.2", v => TryNumber(v, out var x) && x > 0 && x <= 10 ? null : "a fraction above 0 and at most 10 (0.2 = 20% per minute)"),
        ["pricing.smoothing"] = ("0.3", v => TryNumber(v, out var x) && x > 0 && x <= 1 ? null : "a weight above 0 and at most 1 (1 = no smoothing)"),
        ["pricing.interval"] = ("5s", v => TryParseDuration(v, out var d) && d >= TimeSpan.FromMilliseconds(100) ? null : "a duration of at least 100ms, such as 5s"),
        ["pricing.lookback"] = ("30m", v => TryParseDuration(v, out var d) && d >= TimeSpan.FromMinutes(2) ? null : "a duration of at least 2m, such as 30m"),
        ["pacing.campaigns_file"] = ("", v => v.Length == 0 || File.Exists(v) ? null : "an existing CSV file (campaign,daily_budget)"),
        ["log.format"] = ("auto", v => v is "auto" or "json" or "text" ? null : "auto (JSON unless standard error is a terminal), json or text"),
        ["log.level"] = ("info", v => v is "debug" or "info" or "warn" or "error" ? null : "debug, info, warn or error"),
        ["tracing.otlp_endpoint"] = ("", v => v.Length == 0 || Uri.TryCreate(v, UriKind.Absolute, out var u) && u.Scheme is "http" or "https" ? null : "empty (no trace export) or the http(s):// URL of an OTLP collector, such as http://otel-collector:4317"),
        ["tracing.sample_ratio"] = ("1", v => TryNumber(v, out var x) && x is >= 0 and <= 1 ? null : "a fraction of batches to trace, from 0 to 1"),
        ["shutdown.timeout"] = ("30s", v => TryParseDuration(v, out var d) && d >= TimeSpan.FromSeconds(1) && d <= TimeSpan.FromHours(1) ? null : "a duration from 1s to 1h, such as 30s"),
        ["pipeline.max_pending_rows"] = ("1000000", v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1000 ? null : "a whole number of rows, at least 1000 (results and raw events waiting for the store; at the bound the source is held back)"),
        ["health.max_lag"] = ("100000", v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 ? null : "a whole number of messages, at least 1 (/readyz fails above it)"),
        ["window.watermark_delay"] = ("10s", v => TryParseDuration(v, out _) ? null : "a duration such as 250ms, 10s, 5m or 1h"),
        ["window.allowed_lateness"] = ("5m", v => TryParseDuration(v, out _) ? null : "a duration such as 250ms, 10s, 5m or 1h"),
        ["window.max_dedup_ids"] = ("20000000", v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1000 ? null : "a whole number of event ids, at least 1000 (remembered per partition for dedup, about 26 bytes each; past it the oldest are forgotten early, counted)"),
    };

    /// <summary>The user keys of the ClickHouse HTTP endpoint: <c>clickhouse.http.users.NAME.password_sha256</c> and <c>.role</c>.</summary>
    private static readonly System.Text.RegularExpressions.Regex UserKey = new(@"^clickhouse\.http\.users\.(?<name>[A-Za-z0-9_-]{1,64})\.(?<field>password_sha256|role)$");

    private static string? CheckFile(string value) => value.Length == 0 || File.Exists(value) ? null : "empty or an existing PEM file";

    private static string? CheckOrigins(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .All(o => Uri.TryCreate(o, UriKind.Absolute, out var u) && u.Scheme is "http" or "https" && u.GetLeftPart(UriPartial.Authority) == o.TrimEnd('/'))
            ? null
            : "empty or a comma-separated list of origins such as https://grafana.example.com (scheme, host and port only)";

    private static string? CheckUserField(string field, string value) => field switch
    {
        "password_sha256" => value.Length == 64 && value.All(char.IsAsciiHexDigit) ? null : "the hex SHA-256 of the password (64 hex digits, e.g. from: printf %s PASSWORD | sha256sum)",
        _ => value is "admin" or "readonly" ? null : "allowed: admin, readonly",
    };

    /// <summary>Parses 250ms, 10s, 5m, 1h (or a .NET TimeSpan such as 00:00:10).</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(text);
        duration = default;
        var units = new (string Suffix, double Milliseconds)[] { ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000) };
        foreach (var (suffix, milliseconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal) && !(suffix == "s" && text.EndsWith("ms", StringComparison.Ordinal)) &&
                double.TryParse(text[..^suffix.Length], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= 0)
            {
                duration = TimeSpan.FromMilliseconds(value * milliseconds);
                return true;
            }
        }

        return TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out duration) && duration >= TimeSpan.Zero;
    }

    public bool Flag(string key) => this[key] == "true";

    public long WholeNumber(string key) => long.Parse(this[key], CultureInfo.InvariantCulture);

    public double Number(string key) => double.Parse(this[key], CultureInfo.InvariantCulture);

    private static bool TryNumber(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    public int Port(string key) => int.Parse(this[key], System.Globalization.CultureInfo.InvariantCulture);

    public TimeSpan Duration(string key) => TryParseDuration(this[key], out var value) ? value : throw new UsageException($"configuration key '{key}' is not a duration");

    private readonly Dictionary<string, string> _values;
    private readonly Dictionary<string, string> _sources;

    private EngineSettings(Dictionary<string, string> values, Dictionary<string, string> sources)
    {
        _values = values;
        _sources = sources;
    }

    public string this[string key] => _values[key];

    /// <summary>Where a key's effective value came from: defaults, the file, an environment variable, or --set.</summary>
    public string SourceOf(string key) => _sources[key];

    /// <summary>
    /// Merges defaults, the configuration file, the given environment and <c>--set</c> pairs through
    /// Microsoft.Extensions.Configuration (one provider per source, later wins), validating every value each source gives
    /// before it is merged, so a bad value is named with its source even where a later one overrides it.
    /// </summary>
    public static EngineSettings Load(IEnumerable<string> setPairs, IDictionary? environment = null, string? configFile = null)
    {
        ArgumentNullException.ThrowIfNull(setPairs);
        environment ??= Environment.GetEnvironmentVariables();
        var sources = new List<(string Name, Dictionary<string, string> Values)> { ("default", Known.ToDictionary(k => k.Key, k => k.Value.Default, StringComparer.Ordinal)) };
        if (configFile is not null)
        {
            sources.Add((configFile, Checked(ConfigFile.Read(configFile).Select(p => (p.Key, p.Value, configFile)))));
        }

        var fromEnvironment = new List<(string, string, string)>();
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && name.StartsWith(EnvironmentPrefix, StringComparison.Ordinal) && entry.Value is string value)
            {
                fromEnvironment.Add((name[EnvironmentPrefix.Length..].Replace("__", ".", StringComparison.Ordinal).ToLowerInvariant(), value, $"environment variable {name}"));
            }
        }

        sources.Add(("environment", Checked(fromEnvironment)));
        var fromSet = new List<(string, string, string)>();
        foreach (var pair in setPairs)
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException($"--set '{pair}' is not key=value");
            }

            fromSet.Add((pair[..equals].Trim(), pair[(equals + 1)..], "--set"));
        }

        sources.Add(("--set", Checked(fromSet)));

        // Configuration keys match whatever their case; user names would then merge silently: two spellings are refused.
        var spellings = sources.SelectMany(x => x.Values.Keys).Select(k => UserKey.Match(k)).Where(m => m.Success).Select(m => m.Groups["name"].Value)
            .Distinct(StringComparer.Ordinal).GroupBy(n => n, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (spellings is not null)
        {
            throw new UsageException($"configuration names the ClickHouse HTTP user '{string.Join("' and '", spellings)}': user names differ in more than case (configuration keys ignore it)");
        }

        // Dotted keys are configuration paths (kafka.max.poll.interval.ms is kafka:max:poll:interval:ms), so a nested
        // YAML map, a dotted key and STREAMENGINE__A__B all name the same setting.
        var builder = new Microsoft.Extensions.Configuration.ConfigurationBuilder();
        foreach (var (_, pairs) in sources)
        {
            Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(builder,
                pairs.Select(v => KeyValuePair.Create(v.Key.Replace('.', ':'), (string?)v.Value)));
        }

        var root = builder.Build();
        var providers = root.Providers.ToList();
        // Each merged path under the key as the first source spelled it (paths match whatever their case).
        var keyOf = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in sources.SelectMany(x => x.Values.Keys))
        {
            keyOf.TryAdd(key.Replace('.', ':'), key);
        }

        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        var origin = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (path, value) in Microsoft.Extensions.Configuration.ConfigurationExtensions.AsEnumerable(root))
        {
            if (value is null)
            {
                continue; // a section, not a setting
            }

            merged[keyOf[path]] = value;
            origin[keyOf[path]] = sources[providers.FindLastIndex(p => p.TryGet(path, out _))].Name;
        }

        foreach (var role in merged.Keys.Where(k => k.EndsWith(".role", StringComparison.Ordinal) && UserKey.IsMatch(k)).ToList())
        {
            if (!merged.ContainsKey(role[..^".role".Length] + ".password_sha256"))
            {
                throw new UsageException($"configuration key '{role}' names a user without '{role[..^".role".Length]}.password_sha256': every user needs a password");
            }
        }

        return new EngineSettings(merged, origin);
    }

    /// <summary>A source's pairs, each checked (key known, value allowed) and named with the source when it is not.</summary>
    private static Dictionary<string, string> Checked(IEnumerable<(string Key, string Value, string Source)> pairs)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value, source) in pairs)
        {
            Apply(values, key, value, source);
        }

        return values;
    }

    /// <summary>Kafka client settings passed through (security), without the <c>kafka.</c> prefix.</summary>
    public IReadOnlyDictionary<string, string> KafkaClientSettings =>
        _values.Where(v => IsPassThrough(v.Key)).ToDictionary(v => v.Key["kafka.".Length..], v => v.Value, StringComparer.Ordinal);

    /// <summary>Every key with its effective value, pass-through values masked, and where the value came from: safe to print.</summary>
    public IEnumerable<(string Key, string Value, string Source)> PrintableWithSources() =>
        Printable().Select(p => (p.Key, p.Value, _sources[p.Key]));

    /// <summary>Every key with its effective value, pass-through values masked: safe to print.</summary>
    public IEnumerable<KeyValuePair<string, string>> Printable() =>
        _values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => IsSecret(v.Key) && v.Value.Length > 0 ? new KeyValuePair<string, string>(v.Key, "****") : v);

    /// <summary>The values of secret settings, which logs mask wherever they appear.</summary>
    public IEnumerable<string> SecretValues => _values.Where(v => IsSecret(v.Key) && v.Value.Length > 0).Select(v => v.Value);

    /// <summary>The log to standard error as <c>log.format</c> and <c>log.level</c> say, secrets masked.</summary>
    public StreamEngine.Host.Observability.EngineLog Log => StreamEngine.Host.Observability.EngineLog.ToStandardError(
        this["log.format"] switch { "json" => StreamEngine.Host.Observability.LogFormat.Json, "text" => StreamEngine.Host.Observability.LogFormat.Text, _ => StreamEngine.Host.Observability.LogFormat.Auto },
        this["log.level"] switch
        {
            "debug" => Microsoft.Extensions.Logging.LogLevel.Debug,
            "warn" => Microsoft.Extensions.Logging.LogLevel.Warning,
            "error" => Microsoft.Extensions.Logging.LogLevel.Error,
            _ => Microsoft.Extensions.Logging.LogLevel.Information,
        },
        SecretValues);

    private static bool IsSecret(string key) => IsPassThrough(key) || key is "clickhouse.password" or "nats.password" or "nats.token" or "http.api_key" ||
                                                key.EndsWith(".password_sha256", StringComparison.Ordinal);

    /// <summary>Whether users of the ClickHouse HTTP endpoint are configured (else the data folder's generated admin serves).</summary>
    public bool HasClickHouseHttpUsers => _values.Keys.Any(UserKey.IsMatch);

    /// <summary>
    /// The ClickHouse HTTP endpoint over the embedded store at <paramref name="dataPath"/>: its port, TLS, allowed
    /// origins, read-only limits and users; with no user configured, the data folder's generated admin.
    /// </summary>
    public StreamEngine.Host.ClickHouseHttp.ClickHouseHttpOptions ClickHouseHttpOptions(string dataPath)
    {
        var users = _values.Select(v => (Match: UserKey.Match(v.Key), v.Value)).Where(u => u.Match.Success)
            .GroupBy(u => u.Match.Groups["name"].Value, StringComparer.Ordinal)
            .Select(g => new StreamEngine.Host.ClickHouseHttp.ClickHouseUser(g.Key,
                g.Single(f => f.Match.Groups["field"].Value == "password_sha256").Value.ToLowerInvariant(),
                g.FirstOrDefault(f => f.Match.Groups["field"].Value == "role").Value == "admin" ? StreamEngine.Host.ClickHouseHttp.ClickHouseRole.Admin : StreamEngine.Host.ClickHouseHttp.ClickHouseRole.ReadOnly))
            .ToList();
        return new StreamEngine.Host.ClickHouseHttp.ClickHouseHttpOptions
        {
            Port = Port("clickhouse.http.port"),
            Users = users.Count > 0 ? users : [StreamEngine.Host.Security.AdminCredentials.Ensure(dataPath)],
            AllowedOrigins = Origins("clickhouse.http.allowed_origins"),
            ReadOnly = new StreamEngine.Host.ClickHouseHttp.ReadOnlyLimits
            {
                MaxExecutionTime = Duration("clickhouse.http.readonly.max_execution_time"),
                MaxMemoryUsageBytes = WholeNumber("clickhouse.http.readonly.max_memory_usage"),
                MaxResultRows = WholeNumber("clickhouse.http.readonly.max_result_rows"),
                MaxConcurrentQueries = (int)WholeNumber("clickhouse.http.readonly.max_concurrent_queries"),
            },
            Tls = Tls("clickhouse.http.tls"),
        };
    }

    /// <summary>The certificate files under <paramref name="prefix"/> (<c>.certificate</c>, <c>.key</c>), or null for plain HTTP.</summary>
    public StreamEngine.Host.Security.TlsCertificateFiles? Tls(string prefix) =>
        (this[prefix + ".certificate"], this[prefix + ".key"]) switch
        {
            ("", "") => null,
            ({ Length: > 0 } certificate, { Length: > 0 } key) => new StreamEngine.Host.Security.TlsCertificateFiles(certificate, key),
            _ => throw new UsageException($"configuration keys '{prefix}.certificate' and '{prefix}.key' go together: set both (PEM files) or neither"),
        };

    /// <summary>A comma-separated list of origins, without trailing slashes.</summary>
    public IReadOnlyList<string> Origins(string key) =>
        [.. this[key].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(o => o.TrimEnd('/'))];

    /// <summary>
    /// Where the engine's HTTP port listens and the key its hub asks for. Listening beyond this machine without a key
    /// is refused: the hub's data is for the people the key is given to.
    /// </summary>
    public StreamEngine.Host.Observability.EngineHttpOptions HttpOptions
    {
        get
        {
            var host = System.Net.IPAddress.Parse(this["http.host"]);
            var key = NullIfEmpty(this["http.api_key"]);
            return !System.Net.IPAddress.IsLoopback(host) && key is null
                ? throw new UsageException($"configuration key 'http.host' is {host}, beyond this machine: set 'http.api_key' too (clients send it as X-Api-Key, a Bearer token or ?access_token=)")
                : new StreamEngine.Host.Observability.EngineHttpOptions
                {
                    Port = Port("http.port"), Host = host, ApiKey = key, MaxReadyLag = WholeNumber("health.max_lag"),
                    AllowedOrigins = Origins("http.allowed_origins"), Tls = Tls("http.tls"),
                };
        }
    }

    /// <summary>The dashboard's read API over <paramref name="store"/>: the results database and the floor policy the slot view explains.</summary>
    public StreamEngine.Host.Dashboard.ResultsApiOptions ResultsApiOptions(StreamEngine.ClickHouse.Stores.IClickHouseStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new()
        {
            Query = store.QueryJsonRowsAsync,
            Database = this["clickhouse.database"],
            FloorMinSamples = WholeNumber("pricing.min_samples"),
            FloorMaxStepChange = Number("pricing.max_step_change"),
        };
    }

    /// <summary>The <c>kafka.*</c> keys as one typed record, validated with the rest at load.</summary>
    public KafkaSettings Kafka => new(this["kafka.bootstrap"], this["kafka.topic"], NullIfEmpty(this["kafka.group"]),
        TimeSpan.FromMilliseconds(WholeNumber("kafka.max.poll.interval.ms")), KafkaClientSettings);

    /// <summary>The <c>clickhouse.*</c> keys a store is opened with, as one typed record.</summary>
    public ClickHouseSettings ClickHouse => new(this["clickhouse.mode"] == "embedded", this["clickhouse.path"], new Uri(this["clickhouse.url"]),
        this["clickhouse.user"], this["clickhouse.password"], this["clickhouse.database"], ClickHouseCluster, Flag("clickhouse.raw_events"),
        Flag("clickhouse.tls.accept_invalid_certificate"), WholeNumber("clickhouse.embedded.max_memory"), WholeNumber("clickhouse.embedded.cache_size"));

    /// <summary>The <c>window.*</c> and <c>pipeline.*</c> keys as one typed record.</summary>
    public PipelineSettings Pipeline => new(Duration("window.watermark_delay"), Duration("window.allowed_lateness"), (int)WholeNumber("pipeline.max_pending_rows"),
        (int)WholeNumber("window.max_dedup_ids"));

    /// <summary>The cluster the schema is made on (<c>clickhouse.cluster</c>), or null for one server.</summary>
    public StreamEngine.ClickHouse.Stores.ClickHouseCluster? ClickHouseCluster =>
        this["clickhouse.cluster"] is { Length: > 0 } cluster ? new StreamEngine.ClickHouse.Stores.ClickHouseCluster(cluster) : null;

    /// <summary>dynamic-pricing's options from the <c>pricing.*</c>, <c>pacing.campaigns_file</c>, <c>clickhouse.database</c> and <c>kafka.topic</c> keys.</summary>
    public StreamEngine.Jobs.ClickHouse.DynamicPricingOptions DynamicPricingOptions => new()
    {
        Database = this["clickhouse.database"],
        Cluster = ClickHouseCluster,
        Topic = this["kafka.topic"],
        Policy = new StreamEngine.AdEvents.Pricing.FloorPolicy
        {
            MinSamples = WholeNumber("pricing.min_samples"),
            MaxStepChange = Number("pricing.max_step_change"),
            Smoothing = Number("pricing.smoothing"),
        },
        Interval = Duration("pricing.interval"),
        Lookback = Duration("pricing.lookback"),
        CampaignsFile = NullIfEmpty(this["pacing.campaigns_file"]),
    };

    /// <summary>The NATS publisher's options, or null when <c>nats.url</c> is unset (no NATS output).</summary>
    public StreamEngine.Nats.LivePublisherOptions? NatsOptions => this["nats.url"] is { Length: > 0 } url
        ? new StreamEngine.Nats.LivePublisherOptions
        {
            Url = url,
            User = NullIfEmpty(this["nats.user"]),
            Password = NullIfEmpty(this["nats.password"]),
            Token = NullIfEmpty(this["nats.token"]),
            CredentialsFile = NullIfEmpty(this["nats.credentials_file"]),
            JetStream = Flag("nats.jetstream"),
            HistoryMaxAge = Duration("nats.history"),
        }
        : null;

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static bool IsPassThrough(string key) =>
        key.StartsWith("kafka.security.", StringComparison.Ordinal) || key.StartsWith("kafka.sasl.", StringComparison.Ordinal) || key.StartsWith("kafka.ssl.", StringComparison.Ordinal);

    private static void Apply(Dictionary<string, string> values, string key, string value, string source)
    {
        if (IsPassThrough(key))
        {
            values[key] = value;
            return;
        }

        if (UserKey.Match(key) is { Success: true } user)
        {
            if (CheckUserField(user.Groups["field"].Value, value) is { } bad)
            {
                throw new UsageException($"configuration key '{key}' has a bad value (from {source}): {bad}");
            }

            values[key] = value;
            return;
        }

        if (!Known.TryGetValue(key, out var known))
        {
            throw new UsageException($"unknown configuration key '{key}' (from {source}; known: {string.Join(", ", Known.Keys)})");
        }

        if (known.Check(value) is { } problem)
        {
            throw new UsageException($"configuration key '{key}' has a bad value '{value}' (from {source}): {problem}");
        }

        values[key] = value;
    }
}
