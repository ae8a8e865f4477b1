using System.Net;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using ClickHouse.Driver.ADO;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>How to reach a ClickHouse server (<c>clickhouse.url</c>, <c>.user</c>, <c>.password</c>, <c>.database</c>).</summary>
public sealed record ServerStoreOptions
{
    public required Uri Url { get; init; }

    public string User { get; init; } = "default";

    public string Password { get; init; } = "";

    public string Database { get; init; } = "default";

    /// <summary>For TLS to a server with a certificate this machine does not trust (tests, never production).</summary>
    public bool SkipCertificateValidation { get; init; }

    /// <summary>The ClickHouse.Driver connection string for these options.</summary>
    public string ConnectionString
    {
        get
        {
            var builder = new System.Data.Common.DbConnectionStringBuilder
            {
                ["Host"] = Url.Host,
                ["Port"] = Url.Port,
                ["Protocol"] = Url.Scheme,
                ["Username"] = User,
                ["Password"] = Password,
                ["Database"] = Database,
            };
            return builder.ConnectionString;
        }
    }
}

/// <summary>
/// A ClickHouse server through ClickHouse.Driver over HTTP(S). Arrow batches are sent as ClickHouse's ArrowStream
/// format (Arrow IPC) in the request body, written straight from the batch.
/// </summary>
public sealed class ServerStore : IClickHouseStore
{
    private readonly ClickHouseConnection _connection;

    public ServerStore(ServerStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        // Certificate checks are a setting of the client, not a connection-string key (a key would be ignored).
        _connection = new ClickHouseConnection(new global::ClickHouse.Driver.ADO.ClickHouseClientSettings(options.ConnectionString)
        {
            SkipServerCertificateValidation = options.SkipCertificateValidation,
        });
    }

    public ServerStoreOptions Options { get; }

    public string Description => $"ClickHouse server at {Options.Url} (database {Options.Database}, user {Options.User})";

    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var command = _connection.CreateCommand();
        command.CommandText = sql;
        await Translate(() => command.ExecuteNonQueryAsync(cancellationToken));
    }

    /// <summary>
    /// The server's own TabSeparated text, as the embedded store returns it (arrays as <c>[1,2]</c>, NULL as <c>\N</c>,
    /// escapes): callers parse one format whichever store they have.
    /// </summary>
    public Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default) => RawAsync(sql, "TabSeparated", cancellationToken);

    public Task<string> QueryJsonRowsAsync(string sql, CancellationToken cancellationToken = default) => RawAsync(sql, "JSONEachRow", cancellationToken);

    private async Task<string> RawAsync(string sql, string format, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sql);
        await using var command = _connection.CreateCommand();
        command.CommandText = sql + "\nFORMAT " + format;
        using var result = await Translate(() => command.ExecuteRawResultAsync(cancellationToken));
        return await result.ReadAsStringAsync();
    }

    public async Task InsertAsync(string table, RecordBatch batch, string? deduplicationToken, string? logComment = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var sql = ClickHouseSql.InsertHeader(table, batch.Schema, deduplicationToken, logComment) + " FORMAT ArrowStream";
        using var response = await Translate(() => _connection.PostStreamAsync(sql, async (body, token) =>
        {
            using var writer = new ArrowStreamWriter(body, batch.Schema, leaveOpen: true);
            await writer.WriteRecordBatchAsync(batch, token);
            await writer.WriteEndAsync(token);
        }, false, cancellationToken));
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorFrom(response);
        }
    }

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

    /// <summary>ClickHouse.Driver's server errors become <see cref="ClickHouseException"/> with ClickHouse's code and name.</summary>
    private static async Task<T> Translate<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (global::ClickHouse.Driver.ClickHouseServerException e)
        {
            var parsed = ClickHouseException.FromServerText(e.Message);
            throw parsed.Code != 0 ? parsed : new ClickHouseException(e.ErrorCode, parsed.ErrorName, parsed.Message);
        }
        catch (HttpRequestException e)
        {
            throw new ClickHouseException($"ClickHouse server unreachable: {e.Message}", e);
        }
    }

    private static async Task<ClickHouseException> ErrorFrom(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return response.StatusCode == HttpStatusCode.OK ? new ClickHouseException(text) : ClickHouseException.FromServerText(text);
    }
}
