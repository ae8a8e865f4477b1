using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using StreamEngine.Host.Cli;

namespace StreamEngine.Host.Security;

/// <summary>A certificate and its private key, both PEM files.</summary>
public sealed record TlsCertificateFiles(string CertificatePath, string KeyPath);

/// <summary>Loads the certificates the engine's HTTP ports serve.</summary>
public static class TlsCertificates
{
    /// <summary>The certificate with its key, or a usage error naming the configuration keys.</summary>
    public static X509Certificate2 Load(TlsCertificateFiles files, string keys)
    {
        ArgumentNullException.ThrowIfNull(files);
        try
        {
            return X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new UsageException($"{keys}.certificate ({files.CertificatePath}) and {keys}.key ({files.KeyPath}) are not a PEM certificate and its key: {e.Message}");
        }
    }
}
