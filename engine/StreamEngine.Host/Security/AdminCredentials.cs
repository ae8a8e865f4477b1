using System.Security.Cryptography;
using StreamEngine.Host.ClickHouseHttp;

namespace StreamEngine.Host.Security;

/// <summary>
/// The admin the store's first start creates when no users are configured: user <c>admin</c> with a random password
/// kept in <see cref="FileName"/> inside the data folder, readable by its owner only. Later starts read it again, so
/// tools (<c>streamengine query</c>, curl with <c>-u "admin:$(cat FILE)"</c>) keep working across restarts.
/// </summary>
public static class AdminCredentials
{
    public const string User = "admin";

    public const string FileName = "streamengine-admin.password";

    /// <summary>The password file of a data folder.</summary>
    public static string PathIn(string dataPath) => Path.Combine(Path.GetFullPath(dataPath), FileName);

    /// <summary>The admin of <paramref name="dataPath"/>, its password created (owner-only) on the first call.</summary>
    public static ClickHouseUser Ensure(string dataPath)
    {
        var path = PathIn(dataPath);
        if (Read(dataPath) is { } existing)
        {
            return ClickHouseUser.WithPassword(User, existing, ClickHouseRole.Admin);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');
        try
        {
            // Created with owner-only rights from the start: never readable by others, not even for a moment.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using var file = new FileStream(path, options);
            using var writer = new StreamWriter(file);
            writer.Write(password + "\n");
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first: use that one.
            return ClickHouseUser.WithPassword(User, Read(dataPath)!, ClickHouseRole.Admin);
        }

        return ClickHouseUser.WithPassword(User, password, ClickHouseRole.Admin);
    }

    /// <summary>The generated admin password of a data folder, or null when there is none.</summary>
    public static string? Read(string dataPath)
    {
        var path = PathIn(dataPath);
        return File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } password ? password : null;
    }
}
