using System.Text.RegularExpressions;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Cli;

/// <summary><c>streamengine demo</c>: everything in one process; results visible over HTTP while it runs; Ctrl-C stops it cleanly.</summary>
public sealed partial class DemoCommandTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task The_demo_shows_live_results_over_ClickHouse_HTTP_and_stops_cleanly_on_Ctrl_C_keeping_them()
    {
        using var folder = new TemporaryDirectory("streamengine-demo");
        var store = $"clickhouse.path={folder.Path}";
        // Both ports are the ones the demo binds (0: a free one), read back from its banner.
        // The embedded store's memory bounds are settings: chDB takes them as its server settings.
        using var demo = StreamEngineCli.Start("demo", "--port", "0", "--set", store, "--set", "clickhouse.http.port=0",
            "--set", "clickhouse.embedded.max_memory=3221225472", "--set", "clickhouse.embedded.cache_size=134217728");
        var banner = await demo.WaitForOutputAsync(line => line.Contains("ClickHouse HTTP", StringComparison.Ordinal), Patience);
        var url = new Uri(HttpUrl().Match(banner).Value);
        var dashboard = new Uri(HttpUrl().Match(await demo.WaitForOutputAsync(line => line.Contains("dashboard (ad ops)", StringComparison.Ordinal), Patience)).Value);

        // The demo's banner names the password file of its generated admin; without it nothing gets in.
        var passwordFile = StreamEngine.Host.Security.AdminCredentials.PathIn(folder.Path);
        Assert.Contains($"user admin, password in {passwordFile}", banner, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(passwordFile));
        using var http = new HttpClient { BaseAddress = url };
        using (var anonymous = await http.GetAsync("/?query=SELECT%201"))
        {
            Assert.Equal("516", anonymous.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
        }

        http.DefaultRequestHeaders.Authorization = BasicAuth.Header("admin", File.ReadAllText(passwordFile).Trim());
        var bounds = Uri.EscapeDataString("SELECT name, value FROM system.server_settings WHERE name IN ('max_server_memory_usage', 'mark_cache_size', 'primary_index_cache_size') ORDER BY name");
        Assert.Equal("mark_cache_size\t134217728\nmax_server_memory_usage\t3221225472\nprimary_index_cache_size\t134217728\n", await http.GetStringAsync($"/?query={bounds}"));
        long impressions = 0, bids = 0;
        var deadline = DateTime.UtcNow + Patience;
        while ((impressions == 0 || bids == 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            var sql = Uri.EscapeDataString("SELECT (SELECT sum(impressions) FROM ads.campaign_minute), (SELECT sum(bids) FROM ads.slot_minute)");
            var fields = (await http.GetStringAsync($"/?query={sql}")).Trim().Split('\t');
            (impressions, bids) = (long.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.True(impressions > 0, "the demo should have written campaign metrics (ad-metrics) within two minutes");
        Assert.True(bids > 0, "the demo should have written slot metrics (bid-landscape) within two minutes");
        Assert.Contains("job dynamic-pricing", demo.StandardOutput, StringComparison.Ordinal);

        // The engine's own port: Prometheus metrics per job (no campaign or slot labels), liveness.
        using var engine = new HttpClient { BaseAddress = dashboard };
        var metrics = await engine.GetStringAsync("/metrics");
        var decoded = Regex.Match(metrics, @"^streamengine_events_decoded_total\{job=""ad-metrics""\} (\d+)", RegexOptions.Multiline);
        Assert.True(decoded.Success && long.Parse(decoded.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, metrics);
        Assert.Contains("# TYPE streamengine_events_decoded_total counter", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("campaign=", metrics, StringComparison.Ordinal);
        Assert.Equal("ok", (await engine.GetStringAsync("/healthz")).Trim());
        // While the demo holds the store, `query` goes through its endpoint (opening the folder would be refused).
        using (var live = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, "--set", $"clickhouse.http.port={url.Port}", "SELECT count() > 0 FROM ads.campaign_minute"))
        {
            Assert.True(live.ExitCode == 0, live.StandardError);
            Assert.Equal("1", live.StandardOutput.Trim());
        }

        // A process started with SIGINT ignored (a shell without job control ran one of its ancestors with &) keeps
        // ignoring it: say so rather than wait two minutes for a Ctrl-C that cannot arrive.
        var ignored = File.ReadAllLines($"/proc/{demo.Id}/status").Single(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))[7..].Trim();
        Assert.True((Convert.ToUInt64(ignored, 16) & 0x2) == 0, "the demo was started with SIGINT ignored (inherited from a background job), so Ctrl-C cannot reach it");
        demo.Signal(2); // Ctrl-C
        await demo.WaitForExitAsync(Patience);
        Assert.True(demo.ExitCode == 0, $"exit {demo.ExitCode}: {demo.StandardError}; its last output: {string.Join(" | ", demo.StandardOutput.Split('\n').TakeLast(3))}");
        Assert.Contains("demo stopped; results kept in", demo.StandardOutput, StringComparison.Ordinal);

        using var kept = await StreamEngineCli.RunAsync(Patience, "query", "--set", store, "SELECT sum(impressions) >= " + impressions + " FROM ads.campaign_minute");
        Assert.Equal("1", kept.StandardOutput.Trim());
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex HttpUrl();
}
