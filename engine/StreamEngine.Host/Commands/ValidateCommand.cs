using System.CommandLine;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;

namespace StreamEngine.Host.Commands;

/// <summary><c>streamengine validate --config FILE</c>: checks a configuration as a start would, and shows the result.</summary>
public static class ValidateCommand
{
    public static Command Create()
    {
        var config = CliOptions.Config();
        config.Description = "the YAML or JSON configuration file to check (required)";
        var set = CliOptions.Set();
        var command = new Command("validate", "check a YAML or JSON configuration and show the effective values") { config, set };
        command.SetAction(parse => Run(parse.GetValue(config), parse.GetValue(set) ?? [], Console.Out));
        return command;
    }

    public static int Run(string? configFile, IReadOnlyList<string> set, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var file = configFile ?? throw new UsageException("validate: --config FILE is required");
        var settings = EngineSettings.Load(set, configFile: file);
        // The rules that join keys, as a start applies them (http.host beyond loopback needs http.api_key, say).
        _ = settings.HttpOptions;
        _ = settings.NatsOptions;
        output.WriteLine($"{file}: valid. Effective configuration (defaults, file, environment, --set; later wins; secrets masked), each with its source:");
        var rows = settings.PrintableWithSources().ToList();
        var width = rows.Max(r => r.Key.Length + r.Value.Length + 3);
        foreach (var (key, value, source) in rows)
        {
            output.WriteLine($"  {$"{key} = {value}".PadRight(width)}  ({source})");
        }

        return 0;
    }
}
