using System.Collections;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Security;

namespace StreamEngine.UnitTests;

/// <summary>The ClickHouse HTTP endpoint's users and limits from configuration, and the generated admin.</summary>
public sealed class ClickHouseHttpSettingsTests : IDisposable
{
    private static readonly string AnalystHash = ClickHouseUser.Sha256Hex("look");
    private readonly string _folder = Directory.CreateTempSubdirectory("streamengine-settings").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Users_come_from_yaml_maps_the_environment_and_set_with_hashed_passwords()
    {
        var file = Path.Combine(_folder, "engine.yaml");
        File.WriteAllText(file, $"""
            clickhouse:
              http:
                users:
                  analyst:
                    password_sha256: {AnalystHash}
                    role: readonly
                allowed_origins: https://grafana.example.com, https://ops.example.com/
            """);
        var environment = new Hashtable
        {
            ["STREAMENGINE__CLICKHOUSE__HTTP__USERS__OPS__PASSWORD_SHA256"] = ClickHouseUser.Sha256Hex("ops-secret"),
            ["STREAMENGINE__CLICKHOUSE__HTTP__USERS__OPS__ROLE"] = "admin",
        };

        var settings = EngineSettings.Load(["clickhouse.http.readonly.max_concurrent_queries=3"], environment, file);
        var options = settings.ClickHouseHttpOptions(_folder);

        Assert.Equal(
            [new ClickHouseUser("analyst", AnalystHash, ClickHouseRole.ReadOnly), new ClickHouseUser("ops", ClickHouseUser.Sha256Hex("ops-secret"), ClickHouseRole.Admin)],
            options.Users.OrderBy(u => u.Name, StringComparer.Ordinal));
        Assert.Equal(["https://grafana.example.com", "https://ops.example.com"], options.AllowedOrigins);
        Assert.Equal(3, options.ReadOnly.MaxConcurrentQueries);
        Assert.False(File.Exists(AdminCredentials.PathIn(_folder)), "configured users: no generated admin");
        Assert.DoesNotContain(settings.Printable(), p => p.Value.Contains(AnalystHash, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("clickhouse.http.users.x.password_sha256=abc", "64 hex digits")]
    [InlineData("clickhouse.http.users.x.role=root", "allowed: admin, readonly")]
    [InlineData("clickhouse.http.users.bad.name.role=admin", "unknown configuration key")]
    [InlineData("clickhouse.http.allowed_origins=https://x.example/path", "scheme, host and port only")]
    [InlineData("clickhouse.http.readonly.max_concurrent_queries=0", "from 1 to 1000")]
    public void Bad_user_and_endpoint_keys_are_named(string pair, string message)
    {
        var error = Assert.Throws<UsageException>(() => EngineSettings.Load([pair], new Hashtable()));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("abc", error.Message.Replace(pair.Split('=')[0], "", StringComparison.Ordinal), StringComparison.Ordinal); // values of password keys are not echoed
    }

    [Fact]
    public void A_user_needs_a_password()
    {
        var error = Assert.Throws<UsageException>(() => EngineSettings.Load(["clickhouse.http.users.x.role=admin"], new Hashtable()));

        Assert.Contains("every user needs a password", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void With_no_users_the_first_start_creates_an_admin_whose_password_only_the_owner_reads_and_later_starts_reuse()
    {
        var first = EngineSettings.Load([], new Hashtable()).ClickHouseHttpOptions(_folder).Users.Single();
        var again = EngineSettings.Load([], new Hashtable()).ClickHouseHttpOptions(_folder).Users.Single();

        var file = AdminCredentials.PathIn(_folder);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var password = AdminCredentials.Read(_folder)!;
        Assert.True(password.Length >= 32, "a random password of 24 bytes");
        Assert.Equal(new ClickHouseUser("admin", ClickHouseUser.Sha256Hex(password), ClickHouseRole.Admin), first);
        Assert.Equal(first, again);
        Assert.NotEqual(first.PasswordSha256, AdminCredentials.Ensure(Path.Combine(_folder, "other")).PasswordSha256); // each store its own
    }

    [Fact]
    public void Two_users_whose_names_differ_only_in_case_are_refused()
    {
        var hash = new string('a', 64);
        var error = Assert.Throws<UsageException>(() => EngineSettings.Load(
            [$"clickhouse.http.users.Bob.password_sha256={hash}", $"clickhouse.http.users.bob.password_sha256={hash}"], new Hashtable()));

        Assert.Contains("'Bob' and 'bob'", error.Message, StringComparison.Ordinal);
    }
}
