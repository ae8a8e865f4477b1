using System.Globalization;
using Microsoft.Playwright;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Dashboard;

/// <summary>
/// The ad-ops dashboard of <c>streamengine demo</c> in a real browser (Debian's Chromium driven by Playwright): it
/// connects, its numbers change live, it shows the campaign's pacing, it follows a campaign switch, and it reconnects
/// by itself after the engine (and its hub) restarts. A screenshot is kept in artifacts/dashboard.png.
/// </summary>
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    // What a failed wait reports besides what it waited for: the page's state and what the demo said.
    private IPage? _page;
    private ChildProcess? _demo;

    [Fact]
    public async Task The_dashboard_shows_live_numbers_switches_campaign_and_survives_a_hub_restart()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: deploy/local/setup.sh --test installs Debian's chromium");
        using var folder = new TemporaryDirectory("streamengine-dashboard");
        var port = FreePort.Next();
        string[] demoArguments = ["demo", "--port", port.ToString(CultureInfo.InvariantCulture), "--set", $"clickhouse.path={folder.Path}", "--set", "clickhouse.http.port=0"];
        var demo = _demo = StreamEngineCli.Start(demoArguments);
        try
        {
            await demo.WaitForOutputAsync(line => line.Contains("metrics and health", StringComparison.Ordinal), Patience);
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Chromium,
                Headless = true,
                // This machine's network is closed: Chromium's background connections only produce errors.
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            var page = _page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
            page.Console += (_, message) => _console.Enqueue($"{message.Type}: {message.Text}");
            await page.GotoAsync($"http://127.0.0.1:{port}/");
            await Expect(page, "#status[data-state=connected]");

            // Live: the selected campaign's impressions appear and then change as traffic arrives.
            var first = await NumberAsync(page, "#impressions");
            await WaitAsync(async () => await NumberAsync(page, "#impressions") != first, "the impressions tile to change live");
            // Budget pacing from dynamic-pricing (the demo sets budgets): spend today against the pace, and a status.
            await WaitAsync(async () => await TextAsync(page, "#pace-status") != "–", "the campaign's pacing status");
            // The slot: win rate and clearing-price quantiles merged from the partitions' partials.
            await WaitAsync(async () => (await TextAsync(page, "#slot-clearing")).Split(" / ").Length == 3, "the slot's clearing-price quantiles");

            // Switching campaign: the picker follows, the tiles show the new campaign's numbers.
            await WaitAsync(async () => await page.Locator("#campaign option").CountAsync() >= 2, "a second campaign in the picker");
            var second = await page.Locator("#campaign option").Nth(1).GetAttributeAsync("value");
            await page.SelectOptionAsync("#campaign", second!);
            await WaitAsync(async () => await page.InputValueAsync("#campaign") == second && await TextAsync(page, "#impressions") != "–", "the second campaign's numbers");

            // The engine restarts: the page notices, reconnects by itself and shows live numbers again.
            demo.Signal(15);
            await demo.WaitForExitAsync(Patience);
            await Expect(page, "#status:not([data-state=connected])");
            demo.Dispose();
            demo = _demo = StreamEngineCli.Start(demoArguments);
            await Expect(page, "#status[data-state=connected]");
            var afterRestart = await NumberAsync(page, "#impressions");
            await WaitAsync(async () => await NumberAsync(page, "#impressions") != afterRestart, "live numbers after the restart");

            var screenshot = Path.Combine(RepositoryRoot.Path, "artifacts", "dashboard.png");
            Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot should show the dashboard");
        }
        finally
        {
            demo.Dispose();
        }
    }

    private static Task Expect(IPage page, string selector) =>
        page.Locator(selector).WaitForAsync(new LocatorWaitForOptions { Timeout = (float)Patience.TotalMilliseconds });

    private static async Task<string> TextAsync(IPage page, string selector) => (await page.Locator(selector).InnerTextAsync()).Trim();

    /// <summary>A tile's number (waits until it shows one).</summary>
    private async Task<long> NumberAsync(IPage page, string selector)
    {
        long value = -1;
        await WaitAsync(async () => long.TryParse((await TextAsync(page, selector)).Replace(",", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out value),
            $"a number in {selector}");
        return value;
    }

    private async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"gave up waiting for {what}; {await StateAsync()}");
            }

            await Task.Delay(250);
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _console = new();

    /// <summary>The page's status, selection and tiles, its console, and the tails of what the demo wrote.</summary>
    private async Task<string> StateAsync()
    {
        var page = "no page";
        if (_page is not null)
        {
            var tiles = new List<string>();
            foreach (var id in new[] { "status", "campaign-window", "impressions", "pace-status", "slot-clearing", "campaign" })
            {
                try
                {
                    // Briefly: a missing tile must not hide the rest of the report.
                    var tile = _page.Locator("#" + id);
                    tiles.Add($"#{id}={(id == "campaign" ? await tile.InputValueAsync(new LocatorInputValueOptions { Timeout = 1000 }) : await tile.InnerTextAsync(new LocatorInnerTextOptions { Timeout = 1000 }))}");
                }
                catch (Exception e) when (e is TimeoutException or PlaywrightException)
                {
                    tiles.Add($"#{id} unreadable");
                }
            }

            page = $"page {string.Join(' ', tiles)} console: {Tail(string.Join(" | ", _console))}";
        }

        return $"{page}; demo said: {Tail(_demo?.StandardOutput ?? "")} | {Tail(_demo?.StandardError ?? "")}{NativeStacks()}";
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
