using System.Net;
using Microsoft.AspNetCore.Http;

namespace StreamEngine.Host.Security;

/// <summary>
/// Keeps web pages a user opens from using the engine's ports through the user's browser: a request with an
/// <c>Origin</c> header (browsers send one on every cross-site request) gets in only from an allowed origin (or, where
/// the port serves its own pages, from itself), and a port listening on loopback answers only requests that name a
/// loopback host (a page on a DNS name rebound to 127.0.0.1 names its own host).
/// </summary>
public static class CrossSiteRequests
{
    /// <summary>Why the request is refused, or null when it may go on.</summary>
    public static string? Refusal(HttpRequest request, IReadOnlyList<string> allowedOrigins, bool loopbackOnly, bool sameOriginAllowed)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(allowedOrigins);
        if (loopbackOnly && !IsLoopbackHost(request.Host.Host))
        {
            return $"the Host header names {request.Host.Host}, not this machine: this port answers requests for 127.0.0.1, localhost or [::1] only";
        }

        if (request.Headers.Origin.FirstOrDefault() is not { } origin)
        {
            return null;
        }

        var own = $"{request.Scheme}://{request.Host.Value}";
        return allowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase) || (sameOriginAllowed && string.Equals(origin, own, StringComparison.OrdinalIgnoreCase))
            ? null
            : $"requests from the origin {origin} are not allowed";
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
