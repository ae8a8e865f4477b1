using System.Text.Json;
using StreamEngine.Host.Cli;
using YamlDotNet.RepresentationModel;

namespace StreamEngine.Host.Configuration;

/// <summary>
/// Reads a YAML or JSON configuration file into dotted keys (<c>kafka: {bootstrap: x}</c> is <c>kafka.bootstrap=x</c>),
/// which EngineSettings hands to Microsoft.Extensions.Configuration as one provider. Written here rather than taken
/// from the Json and NetEscapades.Configuration.Yaml providers because those turn a list into indexed keys
/// (<c>kafka:bootstrap:0</c>) and report a broken file without naming the key; every key here takes one value, and a
/// list or a broken file is refused naming the key and the file.
/// </summary>
internal static class ConfigFile
{
    public static IEnumerable<(string Key, string Value)> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"--config: file '{path}' does not exist");
        }

        var text = File.ReadAllText(path);
        var isJson = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || text.TrimStart().StartsWith('{');
        try
        {
            return isJson ? FromJson(text) : FromYaml(text, path);
        }
        catch (Exception e) when (e is JsonException or YamlDotNet.Core.YamlException)
        {
            throw new UsageException($"--config: '{path}' is not valid {(isJson ? "JSON" : "YAML")}: {e.Message.Split('\n')[0]}");
        }
    }

    private static List<(string, string)> FromJson(string text)
    {
        using var document = JsonDocument.Parse(text);
        var pairs = new List<(string, string)>();
        void Walk(JsonElement element, string prefix)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        Walk(property.Value, prefix.Length == 0 ? property.Name : $"{prefix}.{property.Name}");
                    }

                    break;
                case JsonValueKind.Array:
                    throw new UsageException($"--config: key '{prefix}' holds a list; every key takes a single value");
                default:
                    pairs.Add((prefix, element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText()));
                    break;
            }
        }

        Walk(document.RootElement, "");
        return pairs;
    }

    private static List<(string, string)> FromYaml(string text, string path)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        var pairs = new List<(string, string)>();
        if (stream.Documents.Count == 0)
        {
            return pairs;
        }

        void Walk(YamlNode node, string prefix)
        {
            switch (node)
            {
                case YamlMappingNode mapping:
                    foreach (var (key, value) in mapping.Children)
                    {
                        var name = ((YamlScalarNode)key).Value ?? "";
                        Walk(value, prefix.Length == 0 ? name : $"{prefix}.{name}");
                    }

                    break;
                case YamlScalarNode scalar:
                    pairs.Add((prefix, scalar.Value ?? ""));
                    break;
                default:
                    throw new UsageException($"--config: key '{prefix}' in {path} holds a list; every key takes a single value");
            }
        }

        Walk(stream.Documents[0].RootNode, "");
        return pairs;
    }
}
