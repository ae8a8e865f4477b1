namespace StreamEngine.TestUtilities;

/// <summary>The checkout the tests run from: the folder that holds StreamEngine.sln.</summary>
public static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "StreamEngine.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no StreamEngine.sln above {AppContext.BaseDirectory}");
    }
}
