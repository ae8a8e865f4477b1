using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Playwright;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Dashboard;

/// <summary>
/// The dashboard in Debian's Chromium driven by Playwright: waits on what the page shows (never sleeps), reads tiles'
/// raw values (their <c>data-value</c>), keeps screenshots in artifacts/, checks the page fits its width, and runs
/// axe-core's accessibility rules. A failed wait reports the page's console and what <see cref="Context"/> adds.
/// </summary>
internal sealed class DashboardBrowser : IAsyncDisposable
{
    private const string Chromium = "/usr/bin/chromium";
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly ConcurrentQueue<string> _console = new();

    private DashboardBrowser(IPlaywright playwright, IBrowser browser, IPage page)
    {
        (_playwright, _browser, Page) = (playwright, browser, page);
        page.Console += (_, message) => _console.Enqueue($"{message.Type}: {message.Text}");
        page.PageError += (_, error) => _console.Enqueue($"page error: {error}");
    }

    public IPage Page { get; }

    /// <summary>More for a failure report (what the engine said, its threads).</summary>
    public Func<string> Context { get; init; } = () => "";

    public static async Task<DashboardBrowser> LaunchAsync(Func<string>? context = null)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: deploy/local/setup.sh --test installs Debian's chromium");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // This machine's network is closed: Chromium's background connections only produce errors.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 }, TimezoneId = "Europe/Berlin", Locale = "en-US" });
        return new DashboardBrowser(playwright, browser, page) { Context = context ?? (() => "") };
    }

    public Task SizeAsync(int width, int height) => Page.SetViewportSizeAsync(width, height);

    /// <summary>Waits until an element matches <paramref name="selector"/>; the failure carries the page's state and console.</summary>
    public async Task ExpectAsync(string selector)
    {
        try
        {
            await Page.Locator(selector).WaitForAsync(new LocatorWaitForOptions { Timeout = (float)Patience.TotalMilliseconds, State = WaitForSelectorState.Attached });
        }
        catch (TimeoutException)
        {
            Assert.Fail(await GaveUpAsync(selector));
        }
    }

    public async Task<string> TextAsync(string selector) => (await Page.Locator(selector).InnerTextAsync()).Trim();

    /// <summary>A tile's raw value (its <c>data-value</c>): what the shown text was formatted from.</summary>
    public async Task<string> ValueAsync(string selector) => await Page.Locator(selector).GetAttributeAsync("data-value") ?? "";

    /// <summary>Rows of a table as tab-separated text: the row's <c>data-campaign</c>, then each cell's <c>data-value</c>.</summary>
    public async Task<IReadOnlyList<string>> OverviewRowsAsync() =>
        await Page.EvalOnSelectorAllAsync<string[]>("#overview-table tbody tr[data-campaign]",
            "rows => rows.map(r => [r.dataset.campaign, ...[...r.querySelectorAll('td[data-value]')].map(td => td.dataset.value)].join('\\t'))");

    /// <summary>Waits until <paramref name="condition"/> holds; the failure names what it waited for and the page's state.</summary>
    public async Task WaitAsync(Func<Task<bool>> condition, Func<string> what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail(await GaveUpAsync(what()));
            }

            await Task.Delay(500);
        }
    }

    public Task WaitAsync(Func<Task<bool>> condition, string what) => WaitAsync(condition, () => what);

    /// <summary>Waits until the page's and the store's readings are equal (both read again each time), reporting the last of each.</summary>
    public async Task UntilEqualAsync(Func<Task<string>> shown, Func<Task<string>> stored, string what)
    {
        string page = "", store = "";
        await WaitAsync(async () =>
        {
            store = await stored();
            page = await shown();
            return page == store && page.Length > 0;
        }, () => $"{what}: the page shows [{Tail(page)}] but ClickHouse holds [{Tail(store)}]");
    }

    /// <summary>A full-page screenshot in artifacts/dashboard-NAME.png.</summary>
    public async Task ScreenshotAsync(string name)
    {
        var path = Path.Combine(RepositoryRoot.Path, "artifacts", $"dashboard-{name}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        Assert.True(new FileInfo(path).Length > 5_000, $"the screenshot {path} should show the dashboard");
    }

    /// <summary>
    /// Nothing wider than the viewport once the page has laid itself out again (charts resize on the window's resize
    /// event): the page scrolls down, never sideways; wide tables scroll within their box.
    /// </summary>
    public async Task UntilFitsWidthAsync(string view)
    {
        var (page, viewport) = (0, 0);
        await WaitAsync(async () =>
        {
            (page, viewport) = (await Page.EvaluateAsync<int>("document.documentElement.scrollWidth"), await Page.EvaluateAsync<int>("window.innerWidth"));
            return page <= viewport;
        }, () => $"the {view} view ({page} px wide) to fit a {viewport} px screen");
    }

    /// <summary>axe-core's WCAG 2 A and AA rules on the page as shown: no serious or critical violation.</summary>
    public async Task AssertAccessibleAsync(string view)
    {
        var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        var axe = Path.Combine(cache, "streamengine", "web", "axe-core-4.14.1", "axe.min.js");
        Assert.True(File.Exists(axe), $"{axe} is missing: deploy/local/setup.sh --test fetches axe-core from npm");
        await Page.AddScriptTagAsync(new PageAddScriptTagOptions { Path = axe });
        var json = await Page.EvaluateAsync<string>("""
            async () => JSON.stringify((await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }))
              .violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`))
            """);
        var violations = JsonSerializer.Deserialize<string[]>(json)!;
        Assert.True(violations.Length == 0, $"accessibility of the {view} view: {string.Join("; ", violations)}");
    }

    /// <summary>What a failed wait reports: what it waited for, the page's status and problem, its console, and <see cref="Context"/>.</summary>
    private async Task<string> GaveUpAsync(string what) =>
        $"gave up waiting for {what}; page {await SafeTextAsync("#status")} {await SafeTextAsync("#problem")}; console: {Tail(string.Join(" | ", _console))}; {Context()}";

    private async Task<string> SafeTextAsync(string selector)
    {
        try
        {
            return $"{selector}={await Page.Locator(selector).InnerTextAsync(new LocatorInnerTextOptions { Timeout = 1000 })}";
        }
        catch (Exception e) when (e is TimeoutException or PlaywrightException)
        {
            return $"{selector} unreadable";
        }
    }

    public static string Tail(string text) => text.Length > 2500 ? text[^2500..] : text;

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
