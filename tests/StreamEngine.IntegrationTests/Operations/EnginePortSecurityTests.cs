using System.Net;
using StreamEngine.Host.Observability;
using StreamEngine.Host.Security;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Operations;

/// <summary>
/// The engine's own port (metrics, health, the hub and the dashboard) against cross-site use: its own pages get in,
/// other origins only when allowed, and on loopback only requests naming this machine; with a certificate, HTTPS.
/// </summary>
public sealed class EnginePortSecurityTests
{
    [Fact]
    public async Task Pages_of_other_sites_and_rebound_names_are_refused_the_dashboard_itself_is_not()
    {
        await using var host = await EngineHttpHost.StartAsync(new EngineHttpOptions { Port = 0, AllowedOrigins = ["https://ops.example"] }, () => []);
        using var http = new HttpClient { BaseAddress = host.Url };
        var own = host.Url.GetLeftPart(UriPartial.Authority);

        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(http, "/hubs/metrics/negotiate?negotiateVersion=1", ("Origin", "http://evil.example"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(http, "/healthz", ("Host", "evil.example"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, "/hubs/metrics/negotiate?negotiateVersion=1", ("Origin", own))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, "/hubs/metrics/negotiate?negotiateVersion=1", ("Origin", "https://ops.example"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, "/", ("Host", "localhost"))).StatusCode);
    }

    [Fact]
    public async Task With_a_certificate_the_port_speaks_HTTPS()
    {
        using var certificate = new SelfSignedCertificate();
        await using var host = await EngineHttpHost.StartAsync(new EngineHttpOptions { Port = 0, Tls = new TlsCertificateFiles(certificate.CertificatePath, certificate.KeyPath) }, () => []);

        Assert.Equal("https", host.Url.Scheme);
        using var trusting = certificate.TrustingClient(host.Url);
        Assert.Equal("ok\n", await trusting.GetStringAsync("/healthz"));
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string path, (string Name, string Value) header)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (header.Name == "Host")
        {
            request.Headers.Host = header.Value;
            request.Method = HttpMethod.Get;
        }
        else
        {
            request.Headers.TryAddWithoutValidation(header.Name, header.Value);
        }

        return await http.SendAsync(request);
    }
}
