using System.Security.Cryptography;
using System.Text;
using StreamEngine.Host.Security;

namespace StreamEngine.Host.ClickHouseHttp;

/// <summary>What a user of the HTTP endpoint may do.</summary>
public enum ClickHouseRole
{
    /// <summary>Everything on the store (reads, writes, DDL), never the engine's filesystem or network.</summary>
    Admin,

    /// <summary>ClickHouse's <c>readonly=1</c> within the <see cref="ReadOnlyLimits"/> (analysts).</summary>
    ReadOnly,
}

/// <summary>A user of the HTTP endpoint: the name, the SHA-256 of the password (never the password) and the role.</summary>
public sealed record ClickHouseUser(string Name, string PasswordSha256, ClickHouseRole Role)
{
    /// <summary>A user whose password is given in clear (tests, the generated admin): only its hash is kept.</summary>
    public static ClickHouseUser WithPassword(string name, string password, ClickHouseRole role) => new(name, Sha256Hex(password), role);

    /// <summary>Lower-case hex of the SHA-256 of the UTF-8 bytes, as <c>clickhouse.http.users.NAME.password_sha256</c> holds it.</summary>
    public static string Sha256Hex(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(password)));
    }
}

/// <summary>
/// Limits of <see cref="ClickHouseRole.ReadOnly"/> users that they cannot lift (no setting they may change touches them),
/// chosen so that an analyst's query cannot starve the pipeline on the same machine.
/// </summary>
public sealed record ReadOnlyLimits
{
    /// <summary>A query running longer is stopped (<c>max_execution_time</c>).</summary>
    public TimeSpan MaxExecutionTime { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A query needing more memory is stopped (<c>max_memory_usage</c>).</summary>
    public long MaxMemoryUsageBytes { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>A result with more rows is refused (<c>max_result_rows</c>, overflow mode throw).</summary>
    public long MaxResultRows { get; init; } = 1_000_000;

    /// <summary>Read-only queries running at once, over all read-only users; one more is refused at once.</summary>
    public int MaxConcurrentQueries { get; init; } = 2;
}

/// <summary>The ClickHouse HTTP interface the engine serves over its embedded store.</summary>
public sealed record ClickHouseHttpOptions
{
    /// <summary>Loopback port (<c>clickhouse.http.port</c>, default 8123); 0 picks a free one.</summary>
    public int Port { get; init; } = 8123;

    /// <summary>Who may connect: nobody else. The host gives a generated admin when none are configured.</summary>
    public IReadOnlyList<ClickHouseUser> Users { get; init; } = [];

    /// <summary>
    /// Browser origins allowed to send requests (<c>clickhouse.http.allowed_origins</c>); a request with any other
    /// <c>Origin</c> header is refused. ClickHouse tools send none; browsers send one on every cross-site request.
    /// </summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>What read-only users cannot exceed.</summary>
    public ReadOnlyLimits ReadOnly { get; init; } = new();

    /// <summary>Serve HTTPS with this certificate (<c>clickhouse.http.tls.certificate</c> and <c>.key</c>), or plain HTTP.</summary>
    public TlsCertificateFiles? Tls { get; init; }

    /// <summary>Largest request body accepted (inserts carry their data in it).</summary>
    public long MaxRequestBytes { get; init; } = 256L * 1024 * 1024;
}
