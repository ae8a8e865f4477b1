using System.CommandLine;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;
using StreamEngine.Host.Security;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine query "SQL"</c>: runs SQL against the store at <c>clickhouse.path</c> and writes the output,
/// unchanged, to standard output. While an engine serves that store (chDB lets one process open it) the query goes
/// through the engine's ClickHouse HTTP endpoint (<c>clickhouse.http.port</c>), as the data folder's generated admin
/// (or, when users are configured, as <c>clickhouse.user</c> with <c>clickhouse.password</c>), over HTTPS when
/// <c>clickhouse.http.tls.*</c> is set (trusting exactly that certificate); otherwise the store is opened directly.
/// </summary>
public static class QueryCommand
{
    public static Command Create()
    {
        var sql = new Argument<string?>("SQL") { Description = "the statement to run", Arity = ArgumentArity.ZeroOrOne };
        var format = CliOptions.Text("--format", "the output format, any ClickHouse format name (default TSV; JSONEachRow, PrettyCompact, ArrowStream, ...)", "FORMAT");
        var config = CliOptions.Config();
        var set = CliOptions.Set();
        var command = new Command("query", "run SQL against the embedded ClickHouse store (clickhouse.path), through its engine when one serves it") { sql, format, config, set };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(sql), parse.GetValue(format), parse.GetValue(config), parse.GetValue(set) ?? [], Console.OpenStandardOutput()));
        return command;
    }

    public static async Task<int> RunAsync(string? statement, string? outputFormat, string? configFile, IReadOnlyList<string> set, Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var sql = statement ?? throw new UsageException("query: missing the SQL to run (streamengine query \"SELECT ...\")");
        var settings = EngineSettings.Load(set, configFile: configFile);
        var format = outputFormat ?? "TSV";
        if (format.Length == 0 || !format.All(char.IsAsciiLetterOrDigit))
        {
            throw new UsageException($"query: --format '{format}' is not a ClickHouse format name");
        }

        var path = Path.GetFullPath(settings["clickhouse.path"]);
        if (await ThroughRunningEngineAsync(settings, path, sql, format, output))
        {
            return 0;
        }

        using var store = EmbeddedClickHouse.Connect(settings.ClickHouse.EmbeddedOptions);
        using var result = store.Query(sql, format);
        output.Write(result.Span);
        output.Flush();
        return 0;
    }

    /// <summary>Runs the query over HTTP when an engine on the port serves this very store; false when none does.</summary>
    private static async Task<bool> ThroughRunningEngineAsync(EngineSettings settings, string path, string sql, string format, Stream output)
    {
        var port = settings.Port("clickhouse.http.port");
        if (port == 0)
        {
            return false;
        }

        var tls = settings.Tls("clickhouse.http.tls");
        using var certificate = tls is null ? null : TlsCertificates.Load(tls, "clickhouse.http.tls");
        using var handler = new HttpClientHandler();
        if (certificate is not null)
        {
            // The engine's own certificate, self-signed or not: trusted because it is the configured one.
            handler.ServerCertificateCustomValidationCallback = (_, served, _, _) => served is not null && served.RawData.AsSpan().SequenceEqual(certificate.RawData);
        }

        using var http = new HttpClient(handler) { BaseAddress = new Uri($"{(tls is null ? "http" : "https")}://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(10) };
        var (user, password) = settings.HasClickHouseHttpUsers
            ? (settings["clickhouse.user"], settings["clickhouse.password"])
            : (AdminCredentials.User, AdminCredentials.Read(path) ?? "");
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{user}:{password}")));
        try
        {
            // Patient: with no engine there the connection is refused at once, while a running engine on a loaded
            // machine may take seconds to answer a cold client's first request (with 2 s, query then opened the folder
            // the engine holds and failed: "is another process using it?").
            using var ping = await http.GetAsync("/ping").WaitAsync(TimeSpan.FromSeconds(30));
            if (!ping.Headers.TryGetValues(ClickHouseHttpEndpoint.DataPathHeader, out var served) || served.FirstOrDefault() != path)
            {
                return false;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or TaskCanceledException)
        {
            return false; // no engine there
        }

        using var response = await http.PostAsync($"/?default_format={Uri.EscapeDataString(format)}", new StringContent(sql));
        if (!response.IsSuccessStatusCode)
        {
            throw new StreamEngine.ClickHouse.ClickHouseException((await response.Content.ReadAsStringAsync()).Trim());
        }

        await response.Content.CopyToAsync(output);
        await output.FlushAsync();
        return true;
    }
}
