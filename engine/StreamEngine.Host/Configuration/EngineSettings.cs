using System.Collections;
using StreamEngine.Host.Cli;

namespace StreamEngine.Host.Configuration;

/// <summary>
/// Configuration keys and their values, from (later wins) built-in defaults, environment variables
/// (<c>STREAMENGINE__CLICKHOUSE__PATH</c> for <c>clickhouse.path</c>) and <c>--set key=value</c>.
/// Only keys the running commands use are known so far; an unknown key or a bad value is an error that names it.
/// </summary>
public sealed class EngineSettings
{
    private const string EnvironmentPrefix = "STREAMENGINE__";

    private static readonly Dictionary<string, (string Default, Func<string, string?> Check)> Known = new(StringComparer.Ordinal)
    {
        ["clickhouse.mode"] = ("embedded", v => v == "embedded" ? null : "allowed: embedded (server mode arrives with the ClickHouse sink)"),
        ["clickhouse.path"] = (".data/clickhouse", v => v.Length > 0 ? null : "a folder path is required"),
    };

    private readonly Dictionary<string, string> _values;

    private EngineSettings(Dictionary<string, string> values) => _values = values;

    public string this[string key] => _values[key];

    /// <summary>Merges defaults, the given environment and <c>--set</c> pairs, validating every value.</summary>
    public static EngineSettings Load(IEnumerable<string> setPairs, IDictionary? environment = null)
    {
        ArgumentNullException.ThrowIfNull(setPairs);
        environment ??= Environment.GetEnvironmentVariables();
        var values = Known.ToDictionary(k => k.Key, k => k.Value.Default, StringComparer.Ordinal);
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && name.StartsWith(EnvironmentPrefix, StringComparison.Ordinal) && entry.Value is string value)
            {
                var key = name[EnvironmentPrefix.Length..].Replace("__", ".", StringComparison.Ordinal).ToLowerInvariant();
                Apply(values, key, value, $"environment variable {name}");
            }
        }

        foreach (var pair in setPairs)
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException($"--set '{pair}' is not key=value");
            }

            Apply(values, pair[..equals].Trim(), pair[(equals + 1)..], "--set");
        }

        return new EngineSettings(values);
    }

    private static void Apply(Dictionary<string, string> values, string key, string value, string source)
    {
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
