using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>ClickHouse's HTTP interface over the embedded store, spoken to as curl and the drivers do.</summary>
[Collection(EmbeddedClickHouseCollection.Name)]
public sealed class ClickHouseHttpEndpointTests(EmbeddedClickHouseFixture clickHouse) : IAsyncLifetime, IDisposable
{
    private static readonly ClickHouseHttpOptions Options = new()
    {
        Port = 0,
        Users = [ClickHouseUser.WithPassword("admin", "s3cret", ClickHouseRole.Admin), ClickHouseUser.WithPassword("analyst", "look", ClickHouseRole.ReadOnly)],
    };

    private ClickHouseHttpEndpoint _endpoint = null!;
    private readonly HttpClient _http = new();
    private readonly HttpClient _anonymous = new();
    private string _db = "";

    public async Task InitializeAsync()
    {
        _endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, Options);
        _http.BaseAddress = _endpoint.Url;
        _anonymous.BaseAddress = _endpoint.Url;
        _http.DefaultRequestHeaders.Authorization = BasicAuth.Header("admin", "s3cret");
        _db = clickHouse.CreateDatabase("http");
        clickHouse.Store.Execute($"CREATE TABLE {_db}.t (id UInt32, name String) ENGINE = MergeTree ORDER BY id");
    }

    public async Task DisposeAsync() => await _endpoint.DisposeAsync();

    public void Dispose()
    {
        _http.Dispose();
        _anonymous.Dispose();
    }

    [Fact]
    public async Task Ping_and_the_bare_root_answer_Ok_without_credentials()
    {
        using var anonymous = new HttpClient { BaseAddress = _endpoint.Url };
        Assert.Equal("Ok.\n", await anonymous.GetStringAsync("/ping"));
        Assert.Equal("Ok.\n", await anonymous.GetStringAsync("/"));
    }

    [Fact]
    public async Task A_query_in_the_url_or_the_body_answers_in_the_default_or_requested_format()
    {
        Assert.Equal("2\n", await _http.GetStringAsync("/?query=SELECT%201%2B1"));
        var posted = await _http.PostAsync("/?default_format=JSONEachRow", new StringContent("SELECT number AS n FROM numbers(2)"));
        Assert.Equal("{\"n\":0}\n{\"n\":1}\n", await posted.Content.ReadAsStringAsync());
        Assert.Equal("JSONEachRow", posted.Headers.GetValues("X-ClickHouse-Format").Single());
        Assert.Contains("\"read_rows\"", posted.Headers.GetValues("X-ClickHouse-Summary").Single(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Database_settings_and_bound_parameters_come_from_the_url_and_stay_per_request()
    {
        await Post($"/?query=INSERT%20INTO%20t%20FORMAT%20CSV&database={_db}", "1,one\n2,two\n3,three\n");

        Assert.Equal("3\n", await _http.GetStringAsync($"/?query=SELECT%20count()%20FROM%20t&database={_db}"));
        Assert.Equal("1\n", await _http.GetStringAsync("/?query=SELECT%20getSetting('max_threads')&max_threads=1"));
        Assert.NotEqual("1\n", await _http.GetStringAsync("/?query=SELECT%20getSetting('max_threads')"));
        var named = await _http.GetStringAsync($"/?query=SELECT%20name%20FROM%20{_db}.t%20WHERE%20id%20%3D%20%7Bid%3AUInt32%7D&param_id=2");
        Assert.Equal("two\n", named);
        var injected = await _http.GetStringAsync($"/?query=SELECT%20count()%20FROM%20{_db}.t%20WHERE%20name%20%3D%20%7Bn%3AString%7D&param_n=x'%20OR%20'1'%3D'1");
        Assert.Equal("0\n", injected);
    }

    [Fact]
    public async Task Inserts_take_their_data_from_the_body_in_any_format_and_compressed()
    {
        await Post($"/?query=INSERT%20INTO%20{_db}.t%20FORMAT%20JSONEachRow", "{\"id\":10,\"name\":\"ten\"}\n{\"id\":11,\"name\":\"eleven\"}\n");
        await Post("/", $"INSERT INTO {_db}.t FORMAT TSV\n12\ttwelve\n");
        using var gzipped = new MemoryStream();
        await using (var gzip = new GZipStream(gzipped, CompressionLevel.Fastest, leaveOpen: true))
        {
            await gzip.WriteAsync(Encoding.UTF8.GetBytes("13,thirteen\n14,fourteen\n"));
        }

        var content = new ByteArrayContent(gzipped.ToArray());
        content.Headers.ContentEncoding.Add("gzip");
        var response = await _http.PostAsync($"/?query=INSERT%20INTO%20{_db}.t%20FORMAT%20CSV", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Assert.Equal("5\t10\t14\n", await _http.GetStringAsync($"/?query=SELECT%20count(),min(id),max(id)%20FROM%20{_db}.t%20WHERE%20id%20>=%2010"));
    }

    [Fact]
    public async Task Responses_are_gzip_compressed_when_asked()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/?query=SELECT%20number%20FROM%20numbers(1000)&enable_http_compression=1");
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));

        using var response = await _http.SendAsync(request);

        Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
        await using var gzip = new GZipStream(await response.Content.ReadAsStreamAsync(), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        Assert.Equal(1000, (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Theory]
    [InlineData("SELEC 1", 400, "62")]
    [InlineData("SELECT * FROM no_such_db.no_such_table", 404, "81")]
    [InlineData("SELECT 1; SELECT 2", 400, "62")]
    public async Task Errors_come_back_as_ClickHouse_sends_them(string sql, int status, string code)
    {
        using var response = await _http.PostAsync("/", new StringContent(sql));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(code, response.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
        Assert.StartsWith($"Code: {code}. DB::Exception:", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_setting_is_refused_by_name()
    {
        using var response = await _http.GetAsync("/?query=SELECT%201&no_such_setting=1");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("no_such_setting", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Users_authenticate_by_basic_auth_or_headers_and_analysts_can_only_read()
    {
        using var wrong = await Send(HttpMethod.Get, "/?query=SELECT%201", basic: ("admin", "nope"));
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.Equal("516", wrong.Headers.GetValues("X-ClickHouse-Exception-Code").Single());

        using var admin = await Send(HttpMethod.Get, "/?query=SELECT%20currentUser()%20IS%20NOT%20NULL", basic: ("admin", "s3cret"));
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);

        using var analystReads = await Send(HttpMethod.Get, $"/?query=SELECT%20count()%20FROM%20{_db}.t", headers: ("analyst", "look"));
        Assert.Equal(HttpStatusCode.OK, analystReads.StatusCode);
        using var analystWrites = await Send(HttpMethod.Post, "/", headers: ("analyst", "look"), body: $"INSERT INTO {_db}.t VALUES (99, 'no')");
        Assert.NotEqual(HttpStatusCode.OK, analystWrites.StatusCode);
        Assert.Equal("164", analystWrites.Headers.GetValues("X-ClickHouse-Exception-Code").Single()); // READONLY
        using var analystDrops = await Send(HttpMethod.Post, "/", headers: ("analyst", "look"), body: $"DROP TABLE {_db}.t");
        Assert.Equal("164", analystDrops.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
    }

    [Fact]
    public async Task ClickHouse_Driver_connects_creates_inserts_with_parameters_and_reads()
    {
        var connectionString = $"Host=127.0.0.1;Port={_endpoint.Port};Username=admin;Password=s3cret;Database={_db}";
        await using var connection = new global::ClickHouse.Driver.ADO.ClickHouseConnection(connectionString);
        await connection.OpenAsync();

        await using (var create = connection.CreateCommand())
        {
            create.CommandText = "CREATE TABLE driver (k String, v Int64) ENGINE = MergeTree ORDER BY k";
            await create.ExecuteNonQueryAsync();
        }

        await using (var insert = connection.CreateCommand())
        {
            // Parameters go through INSERT ... SELECT: the endpoint reads VALUES data as literals only (no expressions).
            insert.CommandText = "INSERT INTO driver SELECT {k:String}, {v:Int64}";
            var k = insert.CreateParameter();
            k.ParameterName = "k";
            k.Value = "campaign-1";
            var v = insert.CreateParameter();
            v.ParameterName = "v";
            v.Value = 42L;
            insert.Parameters.Add(k);
            insert.Parameters.Add(v);
            await insert.ExecuteNonQueryAsync();
        }

        await using var select = connection.CreateCommand();
        select.CommandText = "SELECT k, v FROM driver";
        await using var reader = await select.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(("campaign-1", 42L), (reader.GetString(0), reader.GetInt64(1)));
        Assert.False(await reader.ReadAsync());
    }

    private async Task Post(string url, string body)
    {
        using var response = await _http.PostAsync(url, new StringContent(body));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private Task<HttpResponseMessage> Send(HttpMethod method, string url, (string User, string Password)? basic = null, (string User, string Key)? headers = null, string? body = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (basic is { } b)
        {
            request.Headers.Authorization = BasicAuth.Header(b.User, b.Password);
        }

        if (headers is { } h)
        {
            request.Headers.Add("X-ClickHouse-User", h.User);
            request.Headers.Add("X-ClickHouse-Key", h.Key);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body);
        }

        return _anonymous.SendAsync(request); // only the credentials given here
    }
}
