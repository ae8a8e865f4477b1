using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace StreamEngine.TestUtilities;

/// <summary>A self-signed certificate for 127.0.0.1 written as PEM files (certificate and key), as an operator would give one.</summary>
public sealed class SelfSignedCertificate : IDisposable
{
    private readonly TemporaryDirectory _folder = new("streamengine-tls");

    public SelfSignedCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        RawData = certificate.RawData;
        File.WriteAllText(CertificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(KeyPath, key.ExportPkcs8PrivateKeyPem());
    }

    public string CertificatePath => _folder.File("server.crt");

    public string KeyPath => _folder.File("server.key");

    /// <summary>The certificate's bytes, for a client that trusts exactly this one.</summary>
    public byte[] RawData { get; }

    /// <summary>An HTTP client that trusts this certificate and no other self-signed one.</summary>
    public HttpClient TrustingClient(Uri baseAddress)
    {
        var raw = RawData;
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, served, _, _) => served is not null && served.RawData.AsSpan().SequenceEqual(raw) };
        return new HttpClient(handler, disposeHandler: true) { BaseAddress = baseAddress };
    }

    public void Dispose() => _folder.Dispose();
}
