using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Host.Security;

namespace StreamEngine.Host.ClickHouseHttp;

/// <summary>
/// ClickHouse's HTTP interface over the embedded store, so curl, ClickHouse.Driver and Grafana reach it while the
/// engine holds the data folder (chDB lets one process open it). Each request runs on a connection of its own, so
/// its database and settings never leak into another request. Nobody gets in without a configured user's password;
/// a request from a browser origin not allowed is refused; every statement passes <see cref="QueryGuard"/> (one
/// statement, never the engine's filesystem or network); GET requests are read-only whoever sends them
/// (<c>readonly=2</c>, as ClickHouse does); read-only users run with <c>readonly=1</c> inside <see cref="ReadOnlyLimits"/>.
/// </summary>
public sealed partial class ClickHouseHttpEndpoint : IAsyncDisposable
{
    /// <summary>URL parameters that are part of the protocol, not ClickHouse settings.</summary>
    private static readonly HashSet<string> ProtocolParameters = new(StringComparer.Ordinal)
    {
        "query", "database", "default_format", "user", "password", "query_id", "session_id", "session_timeout", "session_check",
        "compress", "decompress", "enable_http_compression", "http_zlib_compression_level", "buffer_size", "wait_end_of_query",
        "send_progress_in_http_headers", "http_headers_progress_interval_ms", "role", "quota_key", "stacktrace",
    };

    /// <summary>Response header naming the data folder this endpoint serves.</summary>
    public const string DataPathHeader = "X-StreamEngine-Data-Path";

    private readonly WebApplication _app;
    private readonly string _storePath;
    private readonly ClickHouseHttpOptions _options;
    private readonly HashSet<string> _settingNames;
    private readonly SemaphoreSlim _readOnlySlots;

    private ClickHouseHttpEndpoint(WebApplication app, string storePath, ClickHouseHttpOptions options, HashSet<string> settingNames)
    {
        _app = app;
        _storePath = storePath;
        _options = options;
        _settingNames = settingNames;
        _readOnlySlots = new SemaphoreSlim(options.ReadOnly.MaxConcurrentQueries);
    }

    /// <summary>The port it listens on (the one asked for, or the free one picked for 0).</summary>
    public int Port { get; private set; }

    public Uri Url => new($"{(_options.Tls is null ? "http" : "https")}://127.0.0.1:{Port}/");

    /// <summary>
    /// Starts serving the store that <paramref name="store"/> has open (it must stay open: it keeps the engine up).
    /// </summary>
    public static async Task<ClickHouseHttpEndpoint> StartAsync(EmbeddedClickHouse store, ClickHouseHttpOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new ClickHouseHttpOptions();
        if (options.Users.Count == 0)
        {
            throw new ArgumentException("the ClickHouse HTTP endpoint needs at least one user: nobody gets in without a password");
        }

        if (options.ReadOnly.MaxConcurrentQueries < 1)
        {
            throw new ArgumentException("read-only users need at least one concurrent query");
        }

        var certificate = options.Tls is { } tls ? TlsCertificates.Load(tls, "clickhouse.http.tls") : null;
        var settingNames = store.QueryText("SELECT name FROM system.settings").Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, options.Port, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBytes;
        });
        var app = builder.Build();
        var endpoint = new ClickHouseHttpEndpoint(app, store.DataPath, options, settingNames);
        app.Run(endpoint.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (IOException e)
        {
            await app.DisposeAsync();
            throw new InvalidOperationException($"the ClickHouse HTTP endpoint cannot listen on 127.0.0.1:{options.Port} (clickhouse.http.port): {e.Message}", e);
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        endpoint.Port = new Uri(address).Port;
        return endpoint;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _readOnlySlots.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers["X-ClickHouse-Server-Display-Name"] = "streamengine";
        if (!await AllowOriginAsync(context))
        {
            return;
        }

        if (request.Path == "/ping" || (request.Path == "/" && request.Method == "GET" && request.QueryString.Value is null or ""))
        {
            // Lets `streamengine query` tell whether this engine holds the store it was asked about.
            response.Headers[DataPathHeader] = _storePath;
            await response.WriteAsync("Ok.\n");
            return;
        }

        if (request.Path != "/")
        {
            response.StatusCode = 404;
            await response.WriteAsync($"There is no handle {request.Path}\n\nUse / or /ping\n");
            return;
        }

        var queryId = request.Query["query_id"].FirstOrDefault() is { Length: > 0 } given ? given : Guid.NewGuid().ToString();
        response.Headers["X-ClickHouse-Query-Id"] = queryId;
        response.Headers["X-ClickHouse-Timezone"] = "UTC";
        try
        {
            var user = Authenticate(request);
            var body = await ReadBodyAsync(request, context.RequestAborted);
            var (sql, data) = SplitQuery(request.Query["query"].FirstOrDefault() ?? "", body);
            if (string.IsNullOrWhiteSpace(sql))
            {
                throw ClickHouseErrors.Make(62, "SYNTAX_ERROR", "Empty query");
            }

            var format = request.Query["default_format"].FirstOrDefault() is { Length: > 0 } f ? f : "TabSeparated";
            var readOnlySlot = user.Role == ClickHouseRole.ReadOnly;
            if (readOnlySlot && !await _readOnlySlots.WaitAsync(0, context.RequestAborted))
            {
                throw ClickHouseErrors.Make(202, "TOO_MANY_SIMULTANEOUS_QUERIES",
                    $"Too many simultaneous queries of read-only users. Maximum: {_options.ReadOnly.MaxConcurrentQueries} (clickhouse.http.readonly.max_concurrent_queries)");
            }

            try
            {
                var parameters = QueryParameters(request);
                using var connection = Connect(request, user);
                // What runs is the statement as the guard read it (canonical, comments gone), never other text.
                ChDbResult result;
                if (data is { } insert)
                {
                    QueryGuard.Check(connection, insert.Statement + " FORMAT " + insert.Format, parameters, user, HttpMethods.IsGet(request.Method));
                    result = connection.Insert(insert.Statement, insert.Format, insert.Data.Span);
                }
                else
                {
                    result = connection.Query(QueryGuard.Check(connection, sql, parameters, user, HttpMethods.IsGet(request.Method)), format, parameters);
                }

                using var disposeResult = result;
                response.Headers["X-ClickHouse-Format"] = format;
                response.Headers["X-ClickHouse-Summary"] =
                    $"{{\"read_rows\":\"{result.RowsRead}\",\"read_bytes\":\"{result.BytesRead}\",\"written_rows\":\"{result.RowsWritten}\",\"written_bytes\":\"0\",\"total_rows_to_read\":\"0\",\"result_rows\":\"0\",\"result_bytes\":\"{result.Length}\",\"elapsed_ns\":\"{(long)(result.Elapsed.TotalMilliseconds * 1_000_000)}\"}}";
                response.ContentType = ContentTypeOf(format);
                await WriteAsync(context, result);
            }
            finally
            {
                if (readOnlySlot)
                {
                    _readOnlySlots.Release();
                }
            }
        }
        catch (ClickHouseException error)
        {
            var code = error.Code == 0 ? 1002 : error.Code; // UNKNOWN_EXCEPTION when the text carried none
            response.StatusCode = ClickHouseErrors.StatusOf(error);
            response.Headers["X-ClickHouse-Exception-Code"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.ContentType = "text/plain; charset=UTF-8";
            await response.WriteAsync(error.Message.TrimEnd() + "\n");
        }
    }

    /// <summary>
    /// Requests from a browser carry an <c>Origin</c>; only the allowed ones get in (with CORS headers, and an answer
    /// to their preflight), so a web page a user opens cannot reach the store through the user's browser.
    /// </summary>
    private async Task<bool> AllowOriginAsync(HttpContext context)
    {
        var response = context.Response;
        if (CrossSiteRequests.Refusal(context.Request, _options.AllowedOrigins, loopbackOnly: true, sameOriginAllowed: false) is { } refusal)
        {
            response.StatusCode = 403;
            response.Headers["X-ClickHouse-Exception-Code"] = "497";
            response.ContentType = "text/plain; charset=UTF-8";
            await response.WriteAsync($"Code: 497. DB::Exception: {refusal} (clickhouse.http.allowed_origins). (ACCESS_DENIED)\n");
            return false;
        }

        if (context.Request.Headers.Origin.FirstOrDefault() is not { } origin)
        {
            return true;
        }

        response.Headers.AccessControlAllowOrigin = origin;
        response.Headers.Vary = "Origin";
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            response.Headers.AccessControlAllowMethods = "GET, POST, OPTIONS";
            response.Headers.AccessControlAllowHeaders = "Authorization, Content-Type, X-ClickHouse-User, X-ClickHouse-Key, X-ClickHouse-Format";
            response.StatusCode = 204;
            return false;
        }

        return true;
    }

    private ClickHouseUser Authenticate(HttpRequest request)
    {
        string? name = null, password = null;
        if (request.Headers.Authorization.FirstOrDefault() is { } header && header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            byte[] raw;
            try
            {
                raw = Convert.FromBase64String(header[6..].Trim());
            }
            catch (FormatException)
            {
                raw = []; // not base64: no user, so authentication fails below
            }

            var decoded = Encoding.UTF8.GetString(raw);
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            (name, password) = colon < 0 ? (decoded, "") : (decoded[..colon], decoded[(colon + 1)..]);
        }

        name ??= request.Headers["X-ClickHouse-User"].FirstOrDefault() ?? request.Query["user"].FirstOrDefault() ?? "default";
        password ??= request.Headers["X-ClickHouse-Key"].FirstOrDefault() ?? request.Query["password"].FirstOrDefault() ?? "";
        var user = _options.Users.FirstOrDefault(u => u.Name == name);
        // Hashes compared in constant time (an unknown user against a stand-in), so timing tells nothing.
        var given = Encoding.ASCII.GetBytes(ClickHouseUser.Sha256Hex(password));
        var expected = Encoding.ASCII.GetBytes(user?.PasswordSha256.ToLowerInvariant() ?? new string('0', 64));
        if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, given) || user is null)
        {
            throw ClickHouseErrors.Make(ClickHouseErrors.AuthenticationFailed, "AUTHENTICATION_FAILED",
                $"{name}: Authentication failed: password is incorrect, or there is no user with such name");
        }

        return user;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.Method is not ("POST" or "PUT"))
        {
            return [];
        }

        Stream body = request.Body;
        var encoding = request.Headers.ContentEncoding.FirstOrDefault()?.Trim().ToLowerInvariant();
        body = encoding switch
        {
            null or "" or "identity" => body,
            "gzip" => new GZipStream(body, CompressionMode.Decompress),
            "deflate" => new ZLibStream(body, CompressionMode.Decompress),
            "br" => new BrotliStream(body, CompressionMode.Decompress),
            _ => throw ClickHouseErrors.Make(415, "UNSUPPORTED_MEDIA_TYPE", $"Unknown HTTP compression method '{encoding}' (supported here: gzip, deflate, br)"),
        };
        await using (body)
        {
            using var buffer = new MemoryStream();
            await body.CopyToAsync(buffer, cancellationToken);
            return buffer.ToArray();
        }
    }

    /// <summary>
    /// The statement, and for <c>INSERT ... FORMAT X</c> the data after it: the query parameter and the body
    /// together, as ClickHouse reads them.
    /// </summary>
    private static (string Sql, (string Statement, string Format, ReadOnlyMemory<byte> Data)? Insert) SplitQuery(string queryParameter, byte[] body)
    {
        var bodyHead = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 64 * 1024));
        var text = queryParameter.Length == 0 ? bodyHead : queryParameter;
        var insert = InsertWithFormat().Match(text);
        if (!insert.Success)
        {
            var sql = queryParameter.Length == 0 ? Encoding.UTF8.GetString(body) : body.Length == 0 ? queryParameter : queryParameter + "\n" + Encoding.UTF8.GetString(body);
            return (sql, null);
        }

        var statement = text[..insert.Groups["format"].Index].TrimEnd();
        statement = statement[..^"FORMAT".Length].TrimEnd();
        var format = insert.Groups["format"].Value;
        ReadOnlyMemory<byte> data;
        if (queryParameter.Length == 0)
        {
            var headerBytes = Encoding.UTF8.GetByteCount(text[..(insert.Index + insert.Length)]);
            data = body.AsMemory(headerBytes);
        }
        else
        {
            var inline = Encoding.UTF8.GetBytes(queryParameter[(insert.Index + insert.Length)..]);
            data = inline.Length == 0 ? body : inline.Concat(body).ToArray();
        }

        return (statement, (statement, format, data));
    }

    private EmbeddedClickHouse Connect(HttpRequest request, ClickHouseUser user)
    {
        // The connection's own settings (limits, modes) are ours; the URL's go in afterwards as SET statements, where a
        // bad value is an error of that request only (a bad start-up setting can leave chDB unable to open the store).
        var requested = new List<(string Name, string Value)>();
        string? askedReadOnly = null;
        foreach (var (name, values) in request.Query)
        {
            if (ProtocolParameters.Contains(name) || name.StartsWith("param_", StringComparison.Ordinal))
            {
                continue;
            }

            if (!_settingNames.Contains(name))
            {
                throw ClickHouseErrors.Make(115, "UNKNOWN_SETTING", $"Setting {name} is neither a builtin setting nor started with the prefix 'custom_' registered for user-defined settings");
            }

            if (name != "readonly" && QueryGuard.IsDeniedSetting(name))
            {
                throw QueryGuard.DeniedSetting(user, name);
            }

            if (user.Role == ClickHouseRole.ReadOnly && !QueryGuard.IsReadOnlySetting(name))
            {
                throw QueryGuard.ReadOnlySetting(user, name);
            }

            if (name == "readonly")
            {
                askedReadOnly = values[^1]; // only 1 or 2 count, below: a URL may make a request stricter, never looser
            }
            else
            {
                requested.Add((name, values[^1] ?? "")); // a setting given twice: the last one, as ClickHouse takes it
            }
        }

        // Read-only users: the limits, set before readonly=1 closes the session's settings; QueryGuard keeps the query
        // from changing them. A GET reads only (readonly=2, which still allows settings), whoever sends it.
        var mode = askedReadOnly is "1" or "2" ? askedReadOnly : null;
        if (user.Role == ClickHouseRole.ReadOnly)
        {
            var limits = _options.ReadOnly;
            requested.Add(("max_execution_time", ((long)Math.Ceiling(limits.MaxExecutionTime.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            requested.Add(("max_memory_usage", limits.MaxMemoryUsageBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            requested.Add(("max_result_rows", limits.MaxResultRows.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            requested.Add(("result_overflow_mode", "throw"));
            mode = "1";
        }
        else if (HttpMethods.IsGet(request.Method) && mode != "1")
        {
            mode = "2";
        }

        if (mode is not null)
        {
            requested.Add(("readonly", mode));
        }

        var connection = EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions { Path = _storePath, Settings = QueryGuard.ForcedSettings });
        try
        {
            foreach (var (name, value) in requested)
            {
                connection.Execute($"SET {name} = {ClickHouseSql.Literal(value)}"); // names are known settings' names
            }
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        if (request.Query["database"].FirstOrDefault() is { Length: > 0 } database)
        {
            try
            {
                using (var known = connection.Query("SELECT count() FROM system.databases WHERE name = {d:String}", "TSVRaw", new Dictionary<string, string> { ["d"] = database }))
                {
                    if (known.Text.Trim() != "1")
                    {
                        throw ClickHouseErrors.Make(81, "UNKNOWN_DATABASE", $"Database {database} does not exist");
                    }
                }

                connection.Execute($"USE `{database.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("`", "\\`", StringComparison.Ordinal)}`");
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }

        return connection;
    }

    private static Dictionary<string, string> QueryParameters(HttpRequest request) =>
        request.Query.Where(p => p.Key.StartsWith("param_", StringComparison.Ordinal)).ToDictionary(p => p.Key["param_".Length..], p => p.Value.ToString(), StringComparer.Ordinal);

    private static async Task WriteAsync(HttpContext context, ChDbResult result)
    {
        var wantsCompression = context.Request.Query["enable_http_compression"].FirstOrDefault() == "1" &&
                               context.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase);
        if (!wantsCompression)
        {
            context.Response.ContentLength = result.Length;
            await using var source = result.OpenStream();
            await source.CopyToAsync(context.Response.Body, context.RequestAborted);
            return;
        }

        context.Response.Headers.ContentEncoding = "gzip";
        await using var gzip = new GZipStream(context.Response.Body, CompressionLevel.Fastest, leaveOpen: true);
        await using var stream = result.OpenStream();
        await stream.CopyToAsync(gzip, context.RequestAborted);
    }

    private static string ContentTypeOf(string format) => format switch
    {
        "JSON" or "JSONCompact" or "JSONStrings" => "application/json; charset=UTF-8",
        "JSONEachRow" or "JSONCompactEachRow" or "JSONStringsEachRow" or "NDJSON" => "application/x-ndjson; charset=UTF-8",
        "CSV" or "CSVWithNames" => "text/csv; charset=UTF-8; header=absent",
        "TabSeparated" or "TSV" or "TabSeparatedWithNames" or "TSVWithNames" or "TabSeparatedWithNamesAndTypes" => "text/tab-separated-values; charset=UTF-8",
        "Pretty" or "PrettyCompact" or "PrettyCompactMonoBlock" or "Vertical" => "text/plain; charset=UTF-8",
        _ => "application/octet-stream",
    };

    [GeneratedRegex(@"^\s*INSERT\s+INTO\s+[\s\S]*?\bFORMAT\s+(?<format>[A-Za-z0-9_]+)[ \t]*(\r?\n)?", RegexOptions.IgnoreCase)]
    private static partial Regex InsertWithFormat();
}
