using System.Net;
using System.Net.Sockets;

namespace StreamEngine.TestUtilities;

/// <summary>
/// Loopback ports for servers a test starts on a port of its choosing (and may restart on the same one). They come
/// from below the kernel's ephemeral range (32768 and up on Linux), which every bind to port 0 and every outgoing
/// connection draw from: a port released here cannot be taken meanwhile by anyone binding to 0, in this process or
/// another, as one handed out from that range could (bind, read, release, then someone else's bind to 0 gets it).
/// Each test process takes its own stretch of the range, by process id, and checks a port is free before handing it out.
/// </summary>
public static class FreePort
{
    private const int First = 20_000;
    private const int Stretch = 400;
    private const int Stretches = (32_768 - First) / Stretch;
    private static int _next = -1;

    public static int Next()
    {
        var start = First + Environment.ProcessId % Stretches * Stretch;
        for (var attempt = 0; attempt < Stretch * Stretches; attempt++)
        {
            var offset = Interlocked.Increment(ref _next);
            var port = First + (start - First + offset) % (Stretch * Stretches);
            if (IsFree(port))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"no free loopback port from {First} to 32767");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Waits until something accepts TCP connections on the port.</summary>
    public static async Task WaitUntilListeningAsync(int port, TimeSpan timeout, Func<bool>? gaveUp = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && gaveUp?.Invoke() != true)
            {
                await Task.Delay(50);
            }
        }
    }
}
