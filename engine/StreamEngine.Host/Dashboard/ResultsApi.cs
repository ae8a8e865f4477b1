using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using StreamEngine.ClickHouse;

namespace StreamEngine.Host.Dashboard;

/// <summary>What the dashboard's read API reads and how much of the store it may use.</summary>
public sealed record ResultsApiOptions
{
    /// <summary>Runs a query and returns its JSONEachRow text (the job's store); null: the API answers 503.</summary>
    public Func<string, CancellationToken, Task<string>>? Query { get; init; }

    /// <summary>The results database (<c>clickhouse.database</c>).</summary>
    public string Database { get; init; } = "ads";

    /// <summary>Bids a floor recommendation needs (<c>pricing.min_samples</c>), so the slot view can say why one is withheld.</summary>
    public long FloorMinSamples { get; init; } = 200;

    /// <summary>The largest change of a floor per minute (<c>pricing.max_step_change</c>).</summary>
    public double FloorMaxStepChange { get; init; } = 0.2;

    /// <summary>Store queries running at once for the API; more wait (up to <see cref="QueueTimeout"/>), so dashboards cannot starve the pipeline.</summary>
    public int MaxConcurrentQueries { get; init; } = 2;

    /// <summary>How long a request waits for a query slot before it gets 503.</summary>
    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an answer is reused for the same request: many open dashboards cost the store one query.</summary>
    public TimeSpan CacheFor { get; init; } = TimeSpan.FromSeconds(1);

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The dashboard's read API on the engine's port, stored results as JSON (<c>GET /api/v1/...</c>, documented in
/// docs/dashboard.md): the overview of the day, a campaign's and a slot's history over a range, and the pacing alerts.
/// "Now" is the newest stored minute, not the wall clock, so a replay of older traffic reads as it was. Not the
/// analysts' endpoint: fixed queries only, each id a literal, bounded, a few at a time, answers shared for a second.
/// </summary>
public static class ResultsApi
{
    /// <summary>The ranges a history can be asked for, each with its minutes up to the newest one: the last 15 minutes, the last hour, the day so far (UTC).</summary>
    private static readonly (string Name, Func<long, Span> Span)[] Ranges =
    [
        ("15m", newest => Span.Last(15, newest)),
        ("1h", newest => Span.Last(60, newest)),
        ("today", Span.DayOf),
    ];

    /// <summary>Maps the API's routes; dispose what it returns when the host stops.</summary>
    public static IDisposable MapResultsApi(this IEndpointRouteBuilder routes, ResultsApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(options);
        var reader = new Reader(options);
        // A request is read (and refused when bad) before anything else; its canonical form keys the shared answer.
        Read overview = (store, _, ct) => Overview(store, ct);
        Read campaign = (store, ask, ct) => Campaign(store, ask.Id!, ask.Range!, ct);
        Read slots = (store, _, ct) => Slots(store, ct);
        Read slot = (store, ask, ct) => Slot(store, ask.Id!, ask.Range!, options, ct);
        Read alerts = (store, ask, ct) => Alerts(store, ask.Limit, ct);
        routes.MapGet("/api/v1/overview", (HttpContext http) => reader.Answer(http, _ => new Ask("overview"), overview));
        routes.MapGet("/api/v1/campaigns/{campaign}", (HttpContext http) => reader.Answer(http, h => new Ask("campaign", Id(h, "campaign"), RangeOf(h)), campaign));
        routes.MapGet("/api/v1/slots", (HttpContext http) => reader.Answer(http, _ => new Ask("slots"), slots));
        routes.MapGet("/api/v1/slots/{slot}", (HttpContext http) => reader.Answer(http, h => new Ask("slot", Id(h, "slot"), RangeOf(h)), slot));
        routes.MapGet("/api/v1/alerts", (HttpContext http) => reader.Answer(http, h => new Ask("alerts", Limit: LimitOf(h)), alerts));
        return reader;
    }

    /// <summary>Every campaign of the day so far: counts, newest pacing, and the last hour's impressions per minute.</summary>
    private static async Task<JsonObject> Overview(Store store, CancellationToken cancellationToken)
    {
        var newest = await store.NewestAsync(store.Sql.NewestCampaignMinute(), cancellationToken);
        var result = Frame(newest);
        var campaigns = new JsonArray();
        result["campaigns"] = campaigns;
        if (newest == 0)
        {
            return result;
        }

        var day = Span.DayOf(newest);
        var totals = await store.RowsAsync(store.Sql.CampaignTotals(day), cancellationToken);
        var pacing = (await store.RowsOrNullAsync(store.Sql.LatestPacing(day), cancellationToken) ?? []).ToDictionary(p => (string)p["campaign"]!, StringComparer.Ordinal);
        var sparklines = (await store.RowsAsync(store.Sql.Sparklines(Span.Last(60, newest)), cancellationToken))
            .GroupBy(r => (string)r["campaign"]!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        foreach (var row in totals)
        {
            var campaign = (string)row["campaign"]!;
            row["pacing"] = pacing.Remove(campaign, out var pace) ? Without(pace, "campaign") : null;
            row["sparkline"] = new JsonArray([.. (sparklines.GetValueOrDefault(campaign) ?? []).Select(p => (JsonNode)new JsonArray((long)p["t"]!, (long)p["impressions"]!))]);
            campaigns.Add(row);
        }

        return result;
    }

    private static async Task<JsonObject> Campaign(Store store, string campaign, string range, CancellationToken cancellationToken)
    {
        var newest = await store.NewestAsync(store.Sql.NewestCampaignMinute(), cancellationToken);
        var result = Frame(newest);
        result["campaign"] = campaign;
        if (newest == 0)
        {
            return Empty(result, "minutes", "pacing", "by_ad", "by_country_device", "alerts");
        }

        var span = InRange(result, range, newest);
        var minutes = await store.RowsAsync(store.Sql.CampaignMinutes(campaign, span), cancellationToken);
        var finality = (await store.RowsAsync(store.Sql.CampaignFinality(campaign, span), cancellationToken)).ToDictionary(r => (long)r["t"]!, r => (bool)r["final"]!);
        foreach (var minute in minutes)
        {
            minute["final"] = finality.GetValueOrDefault((long)minute["t"]!);
        }

        result["minutes"] = new JsonArray([.. minutes]);
        result["pacing"] = await store.ArrayOrNullAsync(store.Sql.CampaignPacing(campaign, span), cancellationToken);
        result["by_ad"] = await store.ArrayOrNullAsync(store.Sql.ByAd(campaign, span), cancellationToken);
        result["by_country_device"] = await store.ArrayOrNullAsync(store.Sql.ByCountryAndDevice(campaign, span), cancellationToken);
        result["alerts"] = await store.ArrayOrNullAsync(store.Sql.Alerts(campaign, span, 200), cancellationToken);
        return result;
    }

    private static async Task<JsonObject> Slots(Store store, CancellationToken cancellationToken)
    {
        var newest = await store.NewestAsync(store.Sql.NewestSlotMinute(), cancellationToken);
        var result = Frame(newest);
        result["slots"] = newest == 0 ? new JsonArray() : new JsonArray([.. await store.RowsAsync(store.Sql.Slots(Span.Last(60, newest)), cancellationToken)]);
        return result;
    }

    private static async Task<JsonObject> Slot(Store store, string slot, string range, ResultsApiOptions options, CancellationToken cancellationToken)
    {
        var newest = await store.NewestAsync(store.Sql.NewestSlotMinute(), cancellationToken);
        var result = Frame(newest);
        result["slot"] = slot;
        if (newest == 0)
        {
            return Empty(result, "minutes", "floors");
        }

        var span = InRange(result, range, newest);
        result["policy"] = new JsonObject { ["min_samples"] = options.FloorMinSamples, ["max_step_change"] = options.FloorMaxStepChange };
        var minutes = await store.RowsAsync(store.Sql.SlotMinutes(slot, span), cancellationToken);
        result["minutes"] = new JsonArray([.. minutes]);
        result["floors"] = await store.ArrayOrNullAsync(store.Sql.Floors(slot, span), cancellationToken);
        // The distributions of the slot's newest minute and of the hour up to it.
        var distributions = new JsonObject();
        if (minutes.Count > 0)
        {
            var last = (long)minutes[^1]["t"]!;
            foreach (var (name, window) in new[] { ("minute", new Span(last, last)), ("hour", Span.Last(60, last)) })
            {
                distributions[name] = new JsonObject
                {
                    ["from"] = window.FromMs,
                    ["to"] = window.ToMs,
                    ["bid"] = new JsonArray([.. await store.RowsAsync(store.Sql.PriceBuckets(slot, window, PriceKind.Bid), cancellationToken)]),
                    ["clearing"] = new JsonArray([.. await store.RowsAsync(store.Sql.PriceBuckets(slot, window, PriceKind.Clearing), cancellationToken)]),
                };
            }
        }

        result["distributions"] = distributions;
        return result;
    }

    private static async Task<JsonObject> Alerts(Store store, int limit, CancellationToken cancellationToken)
    {
        var newest = await store.NewestAsync(store.Sql.NewestCampaignMinute(), cancellationToken);
        var result = Frame(newest);
        result["alerts"] = newest == 0 ? new JsonArray() : await store.ArrayOrNullAsync(store.Sql.Alerts(null, Span.DayOf(newest), limit), cancellationToken);
        return result;
    }

    /// <summary>What every answer starts with: the newest stored minute ("now" for the data) and its UTC day.</summary>
    private static JsonObject Frame(long newestMs) => new()
    {
        ["newest_minute"] = newestMs == 0 ? null : newestMs,
        ["day"] = newestMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(newestMs).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
    };

    /// <summary>The range's minutes up to the newest, written into the answer as <c>range</c>.</summary>
    private static Span InRange(JsonObject result, string range, long newestMs)
    {
        var span = Ranges.Single(r => r.Name == range).Span(newestMs);
        result["range"] = new JsonObject { ["name"] = range, ["from"] = span.FromMs, ["to"] = span.ToMs };
        return span;
    }

    /// <summary>Nothing stored yet: every history empty.</summary>
    private static JsonObject Empty(JsonObject result, params string[] histories)
    {
        foreach (var name in histories)
        {
            result[name] = new JsonArray();
        }

        return result;
    }

    private static JsonObject Without(JsonObject row, string name)
    {
        row.Remove(name);
        return row;
    }

    /// <summary>What was asked, parsed and checked: its text is the key of the shared answer.</summary>
    private sealed record Ask(string What, string? Id = null, string? Range = null, int Limit = 0);

    private delegate Task<JsonObject> Read(Store store, Ask ask, CancellationToken cancellationToken);

    private static string Id(HttpContext http, string name) =>
        http.Request.RouteValues[name] is string { Length: > 0 and <= 128 } id ? id : throw new BadRequestException($"a {name} id of 1 to 128 characters is required");

    private static string RangeOf(HttpContext http) => http.Request.Query["range"].FirstOrDefault() switch
    {
        null or "" => "1h",
        var r when Ranges.Any(known => known.Name == r) => r,
        var r => throw new BadRequestException($"range '{r}' is not one of {string.Join(", ", Ranges.Select(known => known.Name))}"),
    };

    private static int LimitOf(HttpContext http) => http.Request.Query["limit"].FirstOrDefault() switch
    {
        null or "" => 100,
        var l when int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1000 => n,
        var l => throw new BadRequestException($"limit '{l}' is not a whole number from 1 to 1000"),
    };

    private sealed class BadRequestException(string message) : Exception(message);

    /// <summary>The store as the answers see it: rows as JSON objects, a missing view (its job never ran here) as null.</summary>
    private sealed class Store(Func<string, CancellationToken, Task<string>> query, ResultsQueries sql)
    {
        /// <summary>ClickHouse's UNKNOWN_TABLE: the job that makes the view has not run against this store.</summary>
        private const int UnknownTable = 60;

        public ResultsQueries Sql => sql;

        public async Task<List<JsonObject>> RowsAsync(string statement, CancellationToken cancellationToken)
        {
            var text = await query(statement, cancellationToken);
            return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!.AsObject())];
        }

        public async Task<List<JsonObject>?> RowsOrNullAsync(string statement, CancellationToken cancellationToken)
        {
            try
            {
                return await RowsAsync(statement, cancellationToken);
            }
            catch (ClickHouseException e) when (e.Code == UnknownTable)
            {
                return null;
            }
        }

        public async Task<JsonArray?> ArrayOrNullAsync(string statement, CancellationToken cancellationToken) =>
            await RowsOrNullAsync(statement, cancellationToken) is { } rows ? new JsonArray([.. rows]) : null;

        public async Task<long> NewestAsync(string statement, CancellationToken cancellationToken) =>
            await RowsOrNullAsync(statement, cancellationToken) is [var row] ? (long)row["newest"]! : 0;
    }

    /// <summary>
    /// Answers requests: one shared answer per request for <see cref="ResultsApiOptions.CacheFor"/> (started once, by
    /// the request that created it), a bounded number of store queries at once, a bounded number of answers kept.
    /// </summary>
    private sealed class Reader(ResultsApiOptions options) : IDisposable
    {
        private const int MaxSharedAnswers = 256;
        private readonly SemaphoreSlim _slots = new(options.MaxConcurrentQueries, options.MaxConcurrentQueries);
        private readonly ConcurrentDictionary<Ask, (long At, Lazy<Task<(int Status, string Body)>> Answer)> _shared = new();
        private readonly Store? _store = options.Query is { } query ? new Store(query, new ResultsQueries(options.Database)) : null;

        public void Dispose() => _slots.Dispose();

        public async Task Answer(HttpContext http, Func<HttpContext, Ask> parse, Read read)
        {
            if (_store is null)
            {
                await Write(http, Failure(StatusCodes.Status503ServiceUnavailable, "this engine has no results store to read"));
                return;
            }

            Ask ask;
            try
            {
                ask = parse(http);
            }
            catch (BadRequestException e)
            {
                await Write(http, Failure(StatusCodes.Status400BadRequest, e.Message));
                return;
            }

            await Write(http, await Shared(ask, read).Value);
        }

        /// <summary>The answer to share: a fresh one the others can wait for, or a new one (Lazy: started once, by whoever wins).</summary>
        private Lazy<Task<(int Status, string Body)>> Shared(Ask ask, Read read)
        {
            var now = options.Time.GetTimestamp();
            bool Fresh((long At, Lazy<Task<(int Status, string Body)>> Answer) entry) =>
                options.Time.GetElapsedTime(entry.At, now) <= options.CacheFor &&
                !(entry.Answer.IsValueCreated && entry.Answer.Value.IsCompleted && (!entry.Answer.Value.IsCompletedSuccessfully || entry.Answer.Value.Result.Status != 200));
            if (_shared.Count >= MaxSharedAnswers)
            {
                foreach (var stale in _shared.Where(e => !Fresh(e.Value)).Select(e => e.Key).ToList())
                {
                    _shared.TryRemove(stale, out _);
                }
            }

            var made = new Lazy<Task<(int Status, string Body)>>(() => Compute(ask, read));
            if (_shared.Count >= MaxSharedAnswers)
            {
                return made; // many distinct requests at once: answer each, keep none
            }

            return _shared.AddOrUpdate(ask, _ => (now, made), (_, old) => Fresh(old) ? old : (now, made)).Answer;
        }

        private static async Task Write(HttpContext http, (int Status, string Body) answer)
        {
            http.Response.StatusCode = answer.Status;
            http.Response.Headers.CacheControl = "no-store";
            http.Response.ContentType = "application/json; charset=utf-8";
            await http.Response.WriteAsync(answer.Body);
        }

        private async Task<(int Status, string Body)> Compute(Ask ask, Read read)
        {
            await Task.Yield(); // off the caller's dictionary update
            if (!await _slots.WaitAsync(options.QueueTimeout))
            {
                return Failure(StatusCodes.Status503ServiceUnavailable, "the results store is busy; try again");
            }

            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                return (StatusCodes.Status200OK, (await read(_store!, ask, timeout.Token)).ToJsonString());
            }
            catch (ClickHouseException e)
            {
                return Failure(StatusCodes.Status503ServiceUnavailable, $"the results store refused the read: {e.ErrorName}");
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
            {
                return Failure(StatusCodes.Status503ServiceUnavailable, $"the results store did not answer: {e.Message}");
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidCastException or InvalidOperationException or ArgumentException)
            {
                // An answer the store should not give (cut short, another shape): said, not kept.
                return Failure(StatusCodes.Status500InternalServerError, $"the results store gave an answer that could not be read: {e.Message}");
            }
            finally
            {
                _slots.Release();
            }
        }

        private static (int, string) Failure(int status, string message) => (status, new JsonObject { ["error"] = message }.ToJsonString());
    }
}
