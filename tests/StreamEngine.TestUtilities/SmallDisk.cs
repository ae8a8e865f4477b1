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
        Run(RequiredTool.Find("mount"), "-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700", "tmpfs", path);
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
            Run(RequiredTool.Find("umount"), Path);
        }
        catch (InvalidOperationException)
        {
            Run(RequiredTool.Find("umount"), "-l", Path);
        }
    }

    private static void Run(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{command} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error.Trim()} (mounting a tmpfs needs root; the CI runner is root)");
        }
    }
}
