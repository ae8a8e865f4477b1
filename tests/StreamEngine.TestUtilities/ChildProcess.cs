using System.Diagnostics;
using System.Text;

namespace StreamEngine.TestUtilities;

/// <summary>
/// A child process with its output captured line by line. Disposing kills it (and its children) if it still
/// runs, so a failing test never leaves a server behind.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly object _gate = new();

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string StandardOutput
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/>; standard input is a pipe the caller may write to and close.</summary>
    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => child.Append(child._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(child._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Runs a command to completion and returns it; fails the test if it outlives <paramref name="timeout"/>.</summary>
    public static async Task<ChildProcess> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, string? standardInput = null, IDictionary<string, string>? environment = null)
    {
        var child = Start(fileName, arguments, environment);
        if (standardInput is not null)
        {
            await child._process.StandardInput.WriteAsync(standardInput);
        }

        child._process.StandardInput.Close();
        await child.WaitForExitAsync(timeout);
        return child;
    }

    public Task WriteInputAsync(string text) => _process.StandardInput.WriteAsync(text);

    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits for exit; kills the process and throws if it takes longer than <paramref name="timeout"/>.</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{_process.StartInfo.FileName} did not exit within {timeout}; stdout: {StandardOutput} stderr: {StandardError}");
        }

        // The asynchronous readers may still be draining the pipes.
        _process.WaitForExit();
    }

    /// <summary>Waits until a line of standard output satisfies <paramref name="predicate"/>.</summary>
    public Task<string> WaitForOutputAsync(Func<string, bool> predicate, TimeSpan timeout) => WaitForLineAsync(() => StandardOutput, predicate, timeout);

    /// <summary>Waits until a line of standard error contains <paramref name="text"/> (where logs go).</summary>
    public Task<string> WaitForStandardErrorAsync(string text, TimeSpan timeout) =>
        WaitForLineAsync(() => StandardError, line => line.Contains(text, StringComparison.Ordinal), timeout);

    private async Task<string> WaitForLineAsync(Func<string> stream, Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var line = stream().Split('\n').FirstOrDefault(predicate);
            if (line is not null)
            {
                return line;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{_process.StartInfo.FileName} exited with {_process.ExitCode} before the expected output; stdout: {StandardOutput} stderr: {StandardError}");
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{_process.StartInfo.FileName} did not print the expected output within {timeout}; stdout: {StandardOutput} stderr: {StandardError}");
    }

    /// <summary>Sends a POSIX signal (e.g. SIGTERM = 15).</summary>
    public void Signal(int signal)
    {
        if (!_process.HasExited)
        {
            _ = NativeSignals.Kill(_process.Id, signal);
        }
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Append(StringBuilder target, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            target.Append(line).Append('\n');
        }
    }
}
