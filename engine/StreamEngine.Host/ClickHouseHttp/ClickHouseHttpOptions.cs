namespace StreamEngine.Host.ClickHouseHttp;

/// <summary>A user of the HTTP endpoint; read-only users (analysts) cannot change data or schema.</summary>
public sealed record ClickHouseUser(string Name, string Password, bool ReadOnly);

/// <summary>The ClickHouse HTTP interface the engine serves over its embedded store.</summary>
public sealed record ClickHouseHttpOptions
{
    /// <summary>Loopback port (<c>clickhouse.http.port</c>, default 8123); 0 picks a free one.</summary>
    public int Port { get; init; } = 8123;

    /// <summary>Who may connect. The default is ClickHouse's: user <c>default</c> with no password, full rights.</summary>
    public IReadOnlyList<ClickHouseUser> Users { get; init; } = [new("default", "", ReadOnly: false)];

    /// <summary>Largest request body accepted (inserts carry their data in it).</summary>
    public long MaxRequestBytes { get; init; } = 256L * 1024 * 1024;
}
