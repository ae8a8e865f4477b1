using System.Diagnostics;

namespace StreamEngine.TestUtilities;

/// <summary>
/// A tmpfs of a fixed size mounted on a fresh folder, to run a store out of disk space for real: <see cref="Fill"/>
/// writes a file until the file system refuses (ENOSPC), <see cref="Release"/> deletes it. Mounting needs root
/// (CAP_SYS_ADMIN), which the CI runner has; without it the test fails and says so, it does not skip.
/// </summary>
public sealed class SmallDisk : IDisposable
{
    private readonly string _filler;

    private SmallDisk(string path)
    {
        Path = path;
        _filler = System.IO.Path.Combine(path, "filler");
    }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>Bytes the file system still offers.</summary>
    public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

    public static SmallDisk Mount(string path, int megabytes)
    {
        Directory.CreateDirectory(path);
        // Owned by whoever runs the tests, also when only sudo may mount.
        AsRoot("mount", "-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700,uid={Id("-u")},gid={Id("-g")}", "tmpfs", path);
        return new SmallDisk(path);
    }

    /// <summary>Takes every byte left: big writes, then page-sized ones, until the file system says it is full.</summary>
    public void Fill()
    {
        using var file = new FileStream(_filler, FileMode.Append, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        foreach (var chunk in new[] { 1 << 20, 4096 })
        {
            var zeros = new byte[chunk];
            try
            {
                while (true)
                {
                    file.Write(zeros);
                    file.Flush();
                }
            }
            catch (IOException)
            {
                // ENOSPC: on to smaller chunks, or done.
            }
        }

        if (FreeBytes > 0)
        {
            throw new InvalidOperationException($"{Path} still has {FreeBytes} bytes free after filling");
        }
    }

    /// <summary>Gives the space back.</summary>
    public void Release() => File.Delete(_filler);

    /// <summary>Unmounts (lazily if something still has a file open there, such as a process being killed).</summary>
    public void Dispose()
    {
        try
        {
            AsRoot("umount", Path);
        }
        catch (InvalidOperationException)
        {
            try
            {
                AsRoot("umount", "-l", Path);
            }
            catch (InvalidOperationException e)
            {
                // Not over the test's own failure: say it and leave the mount.
                Console.Error.WriteLine($"SmallDisk: {Path} stays mounted: {e.Message}");
            }
        }
    }

    /// <summary>Runs a command as root: directly when the tests run as root (CI), else through <c>sudo -n</c>.</summary>
    private static void AsRoot(string command, params string[] arguments)
    {
        if (Id("-u") == "0")
        {
            Run(RequiredTool.Find(command), arguments);
        }
        else
        {
            Run(RequiredTool.Find("sudo"), ["-n", RequiredTool.Find(command), .. arguments]);
        }
    }

    private static string Id(string which) => Run(RequiredTool.Find("id"), which).Trim();

    private static string Run(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{command} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error.Trim()} (mounting a tmpfs needs root or passwordless sudo; the CI runner is root)");
        }

        return output;
    }
}
