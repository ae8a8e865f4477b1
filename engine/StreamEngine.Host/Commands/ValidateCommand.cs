using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;

namespace StreamEngine.Host.Commands;

/// <summary><c>streamengine validate --config FILE</c>: checks a configuration as a start would, and shows the result.</summary>
public static class ValidateCommand
{
    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var parsed = Arguments.Parse("validate", args, "config", "set");
        parsed.ExpectPositionals(0, 0, "nothing");
        var file = parsed.Value("config") ?? throw new UsageException("validate: --config FILE is required");
        var settings = EngineSettings.Load(parsed.All("set"), configFile: file);
        // The rules that join keys, as a start applies them (http.host beyond loopback needs http.api_key, say).
        _ = settings.HttpOptions;
        _ = settings.NatsOptions;
        output.WriteLine($"{file}: valid. Effective configuration (defaults, file, environment, --set; secrets masked):");
        foreach (var (key, value) in settings.Printable())
        {
            output.WriteLine($"  {key} = {value}");
        }

        return 0;
    }
}
