namespace StreamEngine.TestUtilities;

/// <summary>Runs the real <c>streamengine</c> command (the Host project's build output) as a child process.</summary>
public static class StreamEngineCli
{
    /// <summary>streamengine.dll, copied next to the test assembly by the project reference to the Host.</summary>
    public static string AssemblyPath
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "streamengine.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"streamengine.dll is not next to the tests at {path}; the test project must reference engine/StreamEngine.Host");
        }
    }

    public static ChildProcess Start(params string[] arguments) =>
        ChildProcess.Start(DotnetHost(), ["exec", AssemblyPath, .. arguments], Environment());

    public static Task<ChildProcess> RunAsync(TimeSpan timeout, params string[] arguments) =>
        ChildProcess.RunAsync(DotnetHost(), ["exec", AssemblyPath, .. arguments], timeout, environment: Environment());

    /// <summary>Runs the command with extra environment variables.</summary>
    public static Task<ChildProcess> RunAsync(TimeSpan timeout, IDictionary<string, string> environment, params string[] arguments) =>
        ChildProcess.RunAsync(DotnetHost(), ["exec", AssemblyPath, .. arguments], timeout, environment: Environment(environment));

    /// <summary>
    /// Engines started by tests take any free port for their own HTTP port (metrics, health), so several run at once;
    /// a test that needs a known one passes <c>--set http.port=N</c>, which wins.
    /// </summary>
    private static Dictionary<string, string> Environment(IDictionary<string, string>? extra = null)
    {
        var environment = new Dictionary<string, string> { ["STREAMENGINE__HTTP__PORT"] = "0" };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        return environment;
    }

    private static string DotnetHost() => System.Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
}

/// <summary><c>streamengine kafka serve</c> in a child process, with the ad topics, for tests of several engines.</summary>
public static class KafkaServe
{
    /// <summary>
    /// Starts 3 brokers with <c>ad-events</c> (<paramref name="partitions"/> partitions), its dead-letter and late
    /// topics; returns the process (its standard input takes fault commands) once the topics exist, and the bootstrap.
    /// </summary>
    public static async Task<(ChildProcess Process, string Bootstrap)> StartAdTopicsAsync(TemporaryDirectory folder, int partitions, TimeSpan patience)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var bootstrapFile = folder.File("bootstrap.txt");
        var kafka = StreamEngineCli.Start("kafka", "serve", "--brokers", "3", "--topic", $"ad-events:{partitions}", "--topic", "ad-events.dlq:3",
            "--topic", "ad-events.late:3", "--bootstrap-file", bootstrapFile);
        await kafka.WaitForOutputAsync(line => line.StartsWith("embedded Kafka:", StringComparison.Ordinal), patience);
        return (kafka, (await File.ReadAllTextAsync(bootstrapFile)).Trim());
    }
}
