namespace StreamEngine.TestUtilities;

/// <summary>
/// A real nats-server (Debian's package) on a loopback port it picks itself (and reports back), with JetStream
/// storing into a temporary folder; stopped and cleaned up on dispose. A server a test will restart on the same port
/// takes one of <see cref="FreePort"/>'s instead: a port picked by the kernel comes from the range every bind to 0
/// and every outgoing connection draw from, so while the server is down anyone could take it.
/// </summary>
public sealed partial class NatsServerFixture : IAsyncDisposable, IDisposable
{
    private readonly TemporaryDirectory _storage = new("streamengine-nats");
    private ChildProcess? _server;
    private bool _restartable;

    public int Port { get; private set; }

    public string Url => $"nats://127.0.0.1:{Port}";

    /// <summary>Starts the server and waits until it accepts connections; <paramref name="restartable"/> for a test that calls <see cref="RestartAsync"/>.</summary>
    public static async Task<NatsServerFixture> StartAsync(bool jetStream = true, bool restartable = false)
    {
        var fixture = new NatsServerFixture();
        try
        {
            await fixture.StartServerAsync(jetStream, restartable ? FreePort.Next() : null);
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
        if (!_restartable)
        {
            throw new InvalidOperationException("a NATS server restarted on the same port must be started with restartable: true");
        }

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

    private async Task StartServerAsync(bool jetStream, int? port)
    {
        var executable = RequiredTool.Find("nats-server");
        _restartable = port is not null;
        // -1: the server binds a port of its own choosing and logs it.
        var arguments = new List<string> { "-a", "127.0.0.1", "-p", (port ?? -1).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (jetStream)
        {
            arguments.AddRange(["-js", "-sd", _storage.Path]);
        }

        _server = ChildProcess.Start(executable, arguments);
        var server = _server;
        var listening = await server.WaitForStandardErrorAsync("Listening for client connections on", TimeSpan.FromSeconds(20));
        var listeningOn = ListeningOn().Match(listening);
        Port = listeningOn.Success
            ? int.Parse(listeningOn.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"nats-server said where it listens in a form not understood: {listening}; all it said: {server.StandardError}");
        await FreePort.WaitUntilListeningAsync(Port, TimeSpan.FromSeconds(20), () => server.HasExited);
        if (server.HasExited)
        {
            throw new InvalidOperationException($"nats-server exited with {server.ExitCode}: {server.StandardError}");
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"Listening for client connections on [^ ]*:(?<port>\d+)")]
    private static partial System.Text.RegularExpressions.Regex ListeningOn();
}
