using System.Globalization;

namespace StreamEngine.Host.Cli;

/// <summary>
/// A command's arguments after its name: <c>--name value</c> or <c>--name=value</c> options (repeatable) and
/// positional words. Every option takes a value; errors are <see cref="UsageException"/>s that name the option.
/// </summary>
public sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _allowed;
    private readonly string _command;

    private Arguments(string command, IEnumerable<string> allowedOptions)
    {
        _command = command;
        _allowed = new HashSet<string>(allowedOptions, StringComparer.Ordinal);
    }

    public List<string> Positionals { get; } = [];

    /// <summary>Parses <paramref name="args"/> for <paramref name="command"/>, accepting only the named options.</summary>
    public static Arguments Parse(string command, IReadOnlyList<string> args, params string[] allowedOptions)
    {
        ArgumentNullException.ThrowIfNull(args);
        var parsed = new Arguments(command, allowedOptions);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                parsed.Positionals.AddRange(args.Skip(i + 1));
                break;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                parsed.Positionals.Add(arg);
                continue;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? arg[2..] : arg[2..equals];
            if (!parsed._allowed.Contains(name))
            {
                var allowed = parsed._allowed.Count == 0 ? "it takes no options" : "allowed: " + string.Join(", ", parsed._allowed.Order(StringComparer.Ordinal).Select(o => "--" + o));
                throw new UsageException($"{command}: unknown option --{name} ({allowed})");
            }

            string value;
            if (equals >= 0)
            {
                value = arg[(equals + 1)..];
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                throw new UsageException($"{command}: --{name} needs a value");
            }

            if (!parsed._options.TryGetValue(name, out var values))
            {
                parsed._options[name] = values = [];
            }

            values.Add(value);
        }

        return parsed;
    }

    /// <summary>All values given for a repeatable option, in order.</summary>
    public IReadOnlyList<string> All(string name) => _options.TryGetValue(name, out var values) ? values : [];

    /// <summary>The value of an option given at most once, or null.</summary>
    public string? Value(string name)
    {
        var values = All(name);
        return values.Count switch
        {
            0 => null,
            1 => values[0],
            _ => throw new UsageException($"{_command}: --{name} is given {values.Count} times; give it once"),
        };
    }

    /// <summary>An integer option within [min, max], or <paramref name="defaultValue"/> when absent.</summary>
    public int WholeNumber(string name, int defaultValue, int min, int max)
    {
        var text = Value(name);
        if (text is null)
        {
            return defaultValue;
        }

        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"{_command}: --{name} must be a whole number from {min} to {max}, not '{text}'");
        }

        return value;
    }

    /// <summary>Rejects positional words beyond <paramref name="max"/>.</summary>
    public void ExpectPositionals(int min, int max, string what)
    {
        if (Positionals.Count < min)
        {
            throw new UsageException($"{_command}: missing {what}");
        }

        if (Positionals.Count > max)
        {
            throw new UsageException($"{_command}: unexpected argument '{Positionals[max]}'");
        }
    }
}
