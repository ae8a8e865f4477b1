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
        ChildProcess.Start(DotnetHost(), ["exec", AssemblyPath, .. arguments]);

    public static Task<ChildProcess> RunAsync(TimeSpan timeout, params string[] arguments) =>
        ChildProcess.RunAsync(DotnetHost(), ["exec", AssemblyPath, .. arguments], timeout);

    /// <summary>Runs the command with extra environment variables.</summary>
    public static Task<ChildProcess> RunAsync(TimeSpan timeout, IDictionary<string, string> environment, params string[] arguments) =>
        ChildProcess.RunAsync(DotnetHost(), ["exec", AssemblyPath, .. arguments], timeout, environment: environment);

    private static string DotnetHost() => Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
}
