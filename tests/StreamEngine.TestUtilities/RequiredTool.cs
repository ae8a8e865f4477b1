namespace StreamEngine.TestUtilities;

/// <summary>
/// Finds an executable a test needs on PATH. A missing one fails the test with the command that installs it:
/// integration tests never skip silently.
/// </summary>
public static class RequiredTool
{
    public static string Find(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var directory in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin").Append("/usr/bin"))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"'{name}' is required by this test but is not installed; run `deploy/local/setup.sh --test`");
    }
}
