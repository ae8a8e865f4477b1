namespace StreamEngine.TestUtilities;

/// <summary>
/// A real nats-server (Debian's package) on a free loopback port, with JetStream storing into a temporary folder;
/// stopped and cleaned up on dispose.
/// </summary>
public sealed class NatsServerFixture : IAsyncDisposable, IDisposable
{
    private readonly TemporaryDirectory _storage = new("streamengine-nats");
    private ChildProcess? _server;

    public int Port { get; private set; }

    public string Url => $"nats://127.0.0.1:{Port}";

    /// <summary>Starts the server and waits until it accepts connections.</summary>
    public static async Task<NatsServerFixture> StartAsync(bool jetStream = true)
    {
        var fixture = new NatsServerFixture();
        try
        {
            await fixture.StartServerAsync(jetStream);
            return fixture;
        }
        catch
        {
            fixture.Dispose();
            throw;
        }
    }

    /// <summary>Stops the server process (for tests of reconnects); <see cref="RestartAsync"/> brings it back on the same port.</summary>
    public void Stop()
    {
        _server?.Dispose();
        _server = null;
    }

    public Task RestartAsync(bool jetStream = true)
    {
        Stop();
        return StartServerAsync(jetStream, Port);
    }

    public void Dispose()
    {
        Stop();
        _storage.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task StartServerAsync(bool jetStream, int? port = null)
    {
        var executable = RequiredTool.Find("nats-server");
        Port = port ?? FreePort.Next();
        var arguments = new List<string> { "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (jetStream)
        {
            arguments.AddRange(["-js", "-sd", _storage.Path]);
        }

        _server = ChildProcess.Start(executable, arguments);
        var server = _server;
        await FreePort.WaitUntilListeningAsync(Port, TimeSpan.FromSeconds(20), () => server.HasExited);
        if (server.HasExited)
        {
            throw new InvalidOperationException($"nats-server exited with {server.ExitCode}: {server.StandardError}");
        }
    }
}
