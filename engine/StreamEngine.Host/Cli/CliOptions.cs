using System.CommandLine;
using System.Globalization;

namespace StreamEngine.Host.Cli;

/// <summary>
/// Options several commands share, and typed options whose mistakes are reported as the engine reports them (naming
/// the option and what is allowed), so every command's errors read the same.
/// </summary>
public static class CliOptions
{
    /// <summary><c>--set key=value</c>, repeatable: configuration that wins over the file and the environment.</summary>
    public static Option<string[]> Set() => new("--set")
    {
        Description = "a configuration key and value (repeatable; wins over --config and STREAMENGINE__ variables)",
        HelpName = "key=value",
        Arity = ArgumentArity.OneOrMore, // each --set takes its value: a bare --set is a mistake
        DefaultValueFactory = _ => [],
    };

    /// <summary><c>--config FILE</c>: a YAML or JSON configuration file.</summary>
    public static Option<string?> Config() => new("--config")
    {
        Description = "a YAML or JSON configuration file (defaults, then this file, then the environment, then --set)",
        HelpName = "FILE",
    };

    /// <summary>A string option given at most once.</summary>
    public static Option<string?> Text(string name, string description, string helpName) => new(name) { Description = description, HelpName = helpName };

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, <paramref name="defaultValue"/> when absent.</summary>
    public static Option<int> WholeNumber(string command, string name, string description, int defaultValue, int min, int max)
    {
        var option = new Option<int>(name) { Description = $"{description} ({min}..{max}, default {defaultValue})", HelpName = "N", DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result => ParseWholeNumber(result, command, name, min, max) ?? defaultValue;
        return option;
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, null when absent.</summary>
    public static Option<int?> OptionalWholeNumber(string command, string name, string description, int min, int max)
    {
        var option = new Option<int?>(name) { Description = description, HelpName = "N" };
        option.CustomParser = result => ParseWholeNumber(result, command, name, min, max);
        return option;
    }

    /// <summary>A fraction from 0 to <paramref name="max"/>, 0 when absent.</summary>
    public static Option<double> Fraction(string command, string name, string description, double max)
    {
        var option = new Option<double>(name) { Description = $"{description} (0..{max.ToString(CultureInfo.InvariantCulture)}, default 0)", HelpName = "F" };
        option.CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || value > max)
            {
                result.AddError($"{command}: {name} must be a fraction from 0 to {max.ToString(CultureInfo.InvariantCulture)}, not '{text}'");
                return 0;
            }

            return value;
        };
        return option;
    }

    private static int? ParseWholeNumber(System.CommandLine.Parsing.ArgumentResult result, string command, string name, int min, int max)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            result.AddError($"{command}: {name} must be a whole number from {min} to {max}, not '{text}'");
            return null;
        }

        return value;
    }
}
