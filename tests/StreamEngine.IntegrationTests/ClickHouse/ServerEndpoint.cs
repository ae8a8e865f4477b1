using StreamEngine.Host.ClickHouseHttp;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>
/// The embedded store's HTTP endpoint standing in for a ClickHouse server (clickhouse.mode=server), with the user a
/// fresh ClickHouse server has and the engine's defaults use: <c>default</c>, empty password, full rights.
/// </summary>
internal static class ServerEndpoint
{
    public static ClickHouseHttpOptions Options(int port) => new()
    {
        Port = port,
        Users = [ClickHouseUser.WithPassword("default", "", ClickHouseRole.Admin)],
    };
}
