using System.Globalization;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Dashboard;

/// <summary>
/// The ad-ops dashboard of <c>streamengine demo</c> in a real browser (Debian's Chromium driven by Playwright): the
/// overview lists the campaigns with their pacing and follows the traffic live, a campaign opens from its row and
/// shows live numbers and pacing, the picker switches campaign, the slot view shows clearing prices, and the page
/// reconnects by itself after the engine (and its hub) restarts. (Equality with ClickHouse: DashboardResultsTests.)
/// </summary>
public sealed class DashboardBrowserTests
{
    private static readonly TimeSpan Patience = DashboardBrowser.Patience;

    private ChildProcess? _demo;

    [Fact]
    public async Task The_dashboard_shows_live_numbers_switches_campaign_and_survives_a_hub_restart()
    {
        using var folder = new TemporaryDirectory("streamengine-dashboard");
        var port = FreePort.Next();
        string[] demoArguments = ["demo", "--port", port.ToString(CultureInfo.InvariantCulture), "--set", $"clickhouse.path={folder.Path}", "--set", "clickhouse.http.port=0"];
        var demo = _demo = StreamEngineCli.Start(demoArguments);
        try
        {
            await demo.WaitForOutputAsync(line => line.Contains("metrics and health", StringComparison.Ordinal), Patience);
            await using var browser = await DashboardBrowser.LaunchAsync(() => $"demo said: {Tail(_demo?.StandardOutput ?? "")} | {Tail(_demo?.StandardError ?? "")}{NativeStacks()}");
            var page = browser.Page;
            await page.GotoAsync($"http://127.0.0.1:{port}/");
            await browser.ExpectAsync("#status[data-state=connected]");

            // The overview: campaigns with a pacing status (the demo sets budgets), impressions that grow live.
            await browser.WaitAsync(async () => (await browser.OverviewRowsAsync()).Count >= 2, "two campaigns in the overview");
            var first = (await browser.OverviewRowsAsync())[0].Split('\t');
            await browser.WaitAsync(async () => (await browser.OverviewRowsAsync()).Any(r => r.StartsWith(first[0] + "\t", StringComparison.Ordinal) && r.Split('\t')[1] != first[1]),
                $"campaign {first[0]}'s impressions in the overview to change live from {first[1]}");
            await browser.WaitAsync(async () => (await browser.OverviewRowsAsync()).Any(r => r.Split('\t')[7].Length > 0), "a pacing status in the overview");

            // A row opens its campaign: live numbers that change, and its pacing.
            await page.ClickAsync($"#overview-table a[href='#/campaign/{first[0]}']");
            var impressions = await NumberAsync(browser, "#impressions");
            await browser.WaitAsync(async () => await NumberAsync(browser, "#impressions") != impressions, "the impressions tile to change live");
            await browser.WaitAsync(async () => (await browser.ValueAsync("#pace-status")).Length > 0, "the campaign's pacing status");

            // Switching campaign: the picker follows, the tiles show the new campaign's numbers.
            await browser.WaitAsync(async () => await page.Locator("#campaign option").CountAsync() >= 2, "a second campaign in the picker");
            var second = await page.Locator("#campaign option").Nth(1).GetAttributeAsync("value");
            await page.SelectOptionAsync("#campaign", second!);
            await browser.WaitAsync(async () => await page.InputValueAsync("#campaign") == second && await browser.TextAsync("#campaign-title") == second && await browser.ValueAsync("#impressions") != "",
                "the second campaign's numbers");

            // The slot: clearing-price quantiles merged from the partitions' partials.
            await page.ClickAsync("nav a[data-view=slot]");
            await browser.WaitAsync(async () => (await browser.TextAsync("#slot-clearing")).Split(" / ").Length == 3, "the slot's clearing-price quantiles");

            // The engine restarts: the page notices, reconnects by itself and shows live numbers again.
            await page.ClickAsync("nav a[data-view=campaign]");
            demo.Signal(15);
            await demo.WaitForExitAsync(Patience);
            await browser.ExpectAsync("#status:not([data-state=connected])");
            demo.Dispose();
            demo = _demo = StreamEngineCli.Start(demoArguments);
            await browser.ExpectAsync("#status[data-state=connected]");
            var afterRestart = await NumberAsync(browser, "#impressions");
            await browser.WaitAsync(async () => await NumberAsync(browser, "#impressions") != afterRestart, "live numbers after the restart");
            await browser.ScreenshotAsync("demo-campaign");
        }
        finally
        {
            demo.Dispose();
        }
    }

    /// <summary>A tile's number (waits until it shows one).</summary>
    private static async Task<long> NumberAsync(DashboardBrowser browser, string selector)
    {
        long value = -1;
        await browser.WaitAsync(async () => long.TryParse(await browser.ValueAsync(selector), NumberStyles.Integer, CultureInfo.InvariantCulture, out value), $"a number in {selector}");
        return value;
    }

    /// <summary>
    /// The demo's threads as gdb sees them (named frames only), for a wait that failed while the demo still runs: the
    /// failure this test once had (traffic and results stopping) is a stuck thread, and this says which.
    /// </summary>
    private string NativeStacks()
    {
        if (_demo is null || _demo.HasExited || !File.Exists("/usr/bin/gdb"))
        {
            return "";
        }

        try
        {
            using var gdb = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/usr/bin/gdb", ["-p", _demo.Id.ToString(CultureInfo.InvariantCulture), "-batch", "-ex", "thread apply all bt 10"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var output = gdb.StandardOutput.ReadToEndAsync();
            if (!gdb.WaitForExit(60_000))
            {
                gdb.Kill();
                return " | gdb did not finish";
            }

            var threads = output.Result.Split("\nThread ").Skip(1).Select(thread =>
            {
                var lines = thread.Split('\n');
                var frames = lines.Skip(1).Where(l => l.StartsWith('#') && !l.Contains(" ?? ", StringComparison.Ordinal))
                    .Select(l => System.Text.RegularExpressions.Regex.Match(l, @" in (\S+)|^#\d+\s+(\S+)") is { Success: true } m ? (m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value) : l);
                return $"{lines[0][(lines[0].IndexOf('"') + 1)..].TrimEnd(':', ')', '"')}: {string.Join(" < ", frames)}";
            });
            return $" | native stacks: {string.Join(" || ", threads)}";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return $" | no native stacks: {e.Message}";
        }
    }

    private static string Tail(string text) => text.Length > 2500 ? text[^2500..] : text;
}
