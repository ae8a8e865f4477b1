using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using StreamEngine.ClickHouse;
using StreamEngine.Host.Dashboard;
using StreamEngine.Host.Observability;

namespace StreamEngine.UnitTests;

/// <summary>
/// The dashboard's read API on the engine's port, over a store that answers what the test says: hostile ids become
/// literals and bad parameters a 400, the API key guards it like the hub, a store that is down or busy gives a 503
/// with a reason, a view whose job never ran is null (not an error), and one answer serves a burst of requests.
/// (What the SQL reads from a real store: DashboardResultsTests.)
/// </summary>
public sealed class ResultsApiTests
{
    private const long Newest = 1_796_184_000_000; // 2026-12-02 04:00 UTC

    /// <summary>A store that records the statements and answers the newest minute, one campaign row, and nothing else.</summary>
    private sealed class FakeStore
    {
        public ConcurrentQueue<string> Statements { get; } = new();

        public Func<string, string>? Answer { get; init; }

        public Task<string> QueryAsync(string sql, CancellationToken cancellationToken)
        {
            Statements.Enqueue(sql);
            if (Answer?.Invoke(sql) is { } answer)
            {
                return Task.FromResult(answer);
            }

            return Task.FromResult(sql.Contains("AS newest", StringComparison.Ordinal) ? $"{{\"newest\":{Newest}}}\n"
                : sql.Contains("GROUP BY campaign ORDER BY impressions", StringComparison.Ordinal) ? "{\"campaign\":\"cmp-1\",\"impressions\":5,\"clicks\":1,\"conversions\":0,\"spend_micros\":10,\"bids\":9,\"wins\":5}\n"
                : "");
        }
    }

    private static async Task<(EngineHttpHost Host, HttpClient Http)> StartAsync(ResultsApiOptions results, string? apiKey = null)
    {
        var host = await EngineHttpHost.StartAsync(new EngineHttpOptions { Port = 0, ApiKey = apiKey, Results = results }, () => []);
        return (host, new HttpClient { BaseAddress = host.Url });
    }

    [Fact]
    public async Task Hostile_ids_are_literals_and_bad_parameters_are_refused_with_a_reason()
    {
        var store = new FakeStore();
        var (host, http) = await StartAsync(new ResultsApiOptions { Query = store.QueryAsync, CacheFor = TimeSpan.Zero });
        await using var _ = host;
        using var __ = http;

        using var hostile = await http.GetAsync("api/v1/campaigns/" + Uri.EscapeDataString("x' OR 1=1 --\\") + "?range=15m");
        Assert.Equal(HttpStatusCode.OK, hostile.StatusCode);
        Assert.Equal("x' OR 1=1 --\\", JsonNode.Parse(await hostile.Content.ReadAsStringAsync())!["campaign"]!.GetValue<string>());
        Assert.Contains(store.Statements, s => s.Contains("campaign =", StringComparison.Ordinal));
        Assert.All(store.Statements.Where(s => s.Contains("campaign =", StringComparison.Ordinal)),
            s => Assert.Contains(@"campaign = 'x\' OR 1=1 --\\'", s, StringComparison.Ordinal));

        foreach (var (path, reason) in new[]
                 {
                     ("api/v1/campaigns/cmp-1?range=2d", "range '2d' is not one of 15m, 1h, today"),
                     ("api/v1/alerts?limit=0", "limit '0' is not a whole number from 1 to 1000"),
                     ("api/v1/slots/" + new string('s', 129), "a slot id of 1 to 128 characters is required"),
                 })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(reason, JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task The_api_key_guards_the_stored_results_as_it_guards_the_hub()
    {
        var (host, http) = await StartAsync(new ResultsApiOptions { Query = new FakeStore().QueryAsync }, apiKey: "secret-key");
        await using var _ = host;
        using var __ = http;

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("api/v1/overview")).StatusCode);
        // Routing ignores case; the key check must too.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("API/v1/overview")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("Hubs/metrics/negotiate?negotiateVersion=1")).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/overview") { Headers = { { "X-Api-Key", "secret-key" } } };
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var overview = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("2026-12-02", overview["day"]!.GetValue<string>());
        Assert.Equal(5, overview["campaigns"]![0]!["impressions"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_store_that_fails_or_is_busy_gives_503_with_a_reason_and_a_missing_view_is_null()
    {
        var (entered, release) = (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource());
        var (host, http) = await StartAsync(new ResultsApiOptions
        {
            MaxConcurrentQueries = 1,
            QueueTimeout = TimeSpan.FromMilliseconds(200),
            CacheFor = TimeSpan.Zero,
            Query = async (sql, ct) =>
            {
                if (sql.Contains("ad_minute", StringComparison.Ordinal))
                {
                    throw new ClickHouseException(60, "UNKNOWN_TABLE", "Table ads.ad_minute does not exist");
                }

                if (sql.Contains("slot_minute_results", StringComparison.Ordinal))
                {
                    throw new ClickHouseException(210, "NETWORK_ERROR", "connection refused");
                }

                if (sql.Contains("pacing_alerts", StringComparison.Ordinal) && !sql.Contains("AND campaign =", StringComparison.Ordinal)) // the alerts feed, not a campaign's
                {
                    entered.SetResult();
                    await release.Task.WaitAsync(ct); // holds the only query slot
                }

                return await new FakeStore().QueryAsync(sql, ct);
            },
        });
        await using var _ = host;
        using var __ = http;

        using var campaign = await http.GetAsync("api/v1/campaigns/cmp-1?range=1h");
        Assert.Equal(HttpStatusCode.OK, campaign.StatusCode);
        var body = JsonNode.Parse(await campaign.Content.ReadAsStringAsync())!.AsObject();
        Assert.True(body.ContainsKey("by_ad") && body["by_ad"] is null, "a view whose job never ran is null");
        Assert.NotNull(body["by_country_device"]);

        using var down = await http.GetAsync("api/v1/slots");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Contains("NETWORK_ERROR", await down.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var holding = http.GetAsync("api/v1/alerts");
        await entered.Task;
        using var busy = await http.GetAsync("api/v1/overview");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
        Assert.Contains("busy", await busy.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        release.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await holding).StatusCode);
    }

    [Fact]
    public async Task A_burst_of_requests_for_one_answer_costs_the_store_one_read()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var store = new FakeStore();
        var (host, http) = await StartAsync(new ResultsApiOptions { Query = store.QueryAsync, Time = time, CacheFor = TimeSpan.FromSeconds(1) });
        await using var _ = host;
        using var __ = http;

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => http.GetStringAsync("api/v1/overview")));
        var once = store.Statements.Count;
        Assert.Equal(4, once); // newest minute, totals, pacing, sparklines
        time.Advance(TimeSpan.FromSeconds(2));
        await http.GetStringAsync("api/v1/overview");
        Assert.Equal(2 * once, store.Statements.Count);
    }
}
