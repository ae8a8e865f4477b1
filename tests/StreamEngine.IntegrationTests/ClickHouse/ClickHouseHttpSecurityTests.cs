using System.Net;
using System.Net.Http.Headers;
using System.Text;
using StreamEngine.Host.ClickHouseHttp;
using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>
/// The ClickHouse HTTP endpoint tried as an attacker on the same machine would: without credentials, as the admin
/// reaching for the engine's files and network, hiding a second statement, through a browser on another site, and
/// as an analyst lifting the limits. Each refusal is checked for its effect too (the table still there, no file
/// written), not only for its answer.
/// </summary>
[Collection(EmbeddedClickHouseCollection.Name)]
public sealed class ClickHouseHttpSecurityTests(EmbeddedClickHouseFixture clickHouse) : IAsyncLifetime
{
    private const string AllowedOrigin = "https://grafana.example";
    private static readonly string[] GetRefusals = ["164", "497"];
    private ClickHouseHttpEndpoint _endpoint = null!;
    private string _db = "";

    public async Task InitializeAsync()
    {
        _endpoint = await StartAsync(new ReadOnlyLimits { MaxResultRows = 1000, MaxExecutionTime = TimeSpan.FromSeconds(1) });
        _db = clickHouse.CreateDatabase("sec");
        clickHouse.Store.Execute($"CREATE TABLE {_db}.t (id UInt32, name String) ENGINE = MergeTree ORDER BY id");
        clickHouse.Store.Execute($"INSERT INTO {_db}.t VALUES (1, 'one')");
        File.WriteAllText(Secret, "TOP-SECRET-42\n");
    }

    private const string Secret = "/tmp/streamengine-secret.txt";

    public async Task DisposeAsync() => await _endpoint.DisposeAsync();

    [Theory]
    [InlineData(null, null)]
    [InlineData("default", "")]
    [InlineData("admin", "")]
    [InlineData("admin", "S3cret")]
    [InlineData("nobody", "s3cret")]
    public async Task Without_a_users_password_nothing_runs(string? user, string? password)
    {
        using var response = await SendAsync(HttpMethod.Post, "/", $"DROP TABLE {_db}.t", user is null ? null : (user, password!));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("516", Code(response));
        Assert.True(TableExists(), "the table must still be there");
    }

    [Theory]
    [InlineData("SELECT * FROM file('/etc/hostname', 'LineAsString')")]
    [InlineData("SELECT * FROM /* hidden */ file /* still */ ('/etc/hostname', 'LineAsString')")]
    [InlineData("SELECT file('/etc/hostname')")]
    [InlineData("SELECT count() FROM numbers(1) WHERE toString(number) IN (SELECT * FROM file('/etc/passwd', 'LineAsString'))")]
    [InlineData("SELECT * FROM view(SELECT * FROM file('/etc/passwd', 'LineAsString'))")]
    [InlineData("SELECT * FROM numbers(1) AS a JOIN file('/etc/passwd', 'LineAsString') AS b ON 1")]
    [InlineData("INSERT INTO FUNCTION file('streamengine-pwned.txt', 'LineAsString') SELECT 'x'")]
    [InlineData("INSERT INTO TABLE FUNCTION file('streamengine-pwned.txt', 'LineAsString') VALUES ('x')")]
    [InlineData("SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')")]
    [InlineData("SELECT * FROM remote('127.0.0.1', system.one)")]
    [InlineData("SELECT * FROM s3('http://127.0.0.1:9/bucket/key', 'CSV', 'a String')")]
    [InlineData("SELECT * FROM executable('id', 'TSV', 'a String')")]
    [InlineData("SELECT * FROM mysql('127.0.0.1:3306', 'd', 't', 'u', 'p')")]
    [InlineData("CREATE TABLE {db}.f (a String) ENGINE = File(CSV, '/tmp/streamengine-pwned.csv')")]
    [InlineData("CREATE TABLE {db}.f (a String) ENGINE = `File`(CSV)")]
    [InlineData("CREATE TABLE {db}.u (a String) ENGINE = URL('http://127.0.0.1:9/', CSV)")]
    [InlineData("CREATE TABLE {db}.c ENGINE = Memory AS SELECT * FROM file('/etc/hostname', 'LineAsString')")]
    [InlineData("CREATE VIEW {db}.v AS SELECT * FROM file('/etc/hostname', 'LineAsString')")]
    [InlineData("CREATE TABLE {db}.a AS file('/etc/hostname', 'LineAsString')")]
    [InlineData("CREATE DATABASE streamengine_fs ENGINE = Filesystem('/')")]
    [InlineData("CREATE TABLE {db}.d (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS disk = disk(type = local, path = '/tmp/streamengine-disk/')")]
    [InlineData("SELECT 1 INTO OUTFILE '/tmp/streamengine-outfile.txt'")]
    [InlineData("INSERT INTO {db}.t FROM INFILE '/etc/hostname' FORMAT CSV")]
    [InlineData("CREATE DICTIONARY {db}.dict (k UInt64, v String) PRIMARY KEY k SOURCE(FILE(PATH '/etc/passwd' FORMAT 'CSV')) LAYOUT(FLAT()) LIFETIME(0)")]
    [InlineData("CREATE DICTIONARY {db}.dict (k UInt64, v String) PRIMARY KEY k SOURCE(CLICKHOUSE(QUERY 'SELECT 1, line FROM file(''/etc/passwd'', ''LineAsString'')')) LAYOUT(FLAT()) LIFETIME(0)")]
    [InlineData("CREATE DICTIONARY {db}.dict (k UInt64, v String) PRIMARY KEY k SOURCE(CLICKHOUSE(HOST '127.0.0.1' PORT 9000 TABLE 't')) LAYOUT(FLAT()) LIFETIME(0)")]
    [InlineData("ATTACH TABLE {db}.z FROM '/tmp/streamengine-z' (a UInt8) ENGINE = MergeTree ORDER BY a")]
    [InlineData("BACKUP TABLE {db}.t TO File('/tmp/streamengine-backup.zip')")]
    [InlineData("SYSTEM SHUTDOWN")]
    [InlineData("SELECT 1 FORMAT Template SETTINGS format_template_resultset = '/tmp/streamengine-secret.txt'")]
    [InlineData("CREATE DICTIONARY {db}.dx (id UInt32, name String EXPRESSION 'file(''/tmp/streamengine-secret.txt'')') PRIMARY KEY id SOURCE(CLICKHOUSE(TABLE 't' DB '{db}')) LAYOUT(FLAT()) LIFETIME(0)")]
    [InlineData("CREATE DICTIONARY {db}.dq (k UInt64, v String) PRIMARY KEY k SOURCE(CLICKHOUSE(DB ')' QUERY 'SELECT 1, line FROM file(''/tmp/streamengine-secret.txt'', ''LineAsString'')')) LAYOUT(FLAT()) LIFETIME(0)")]
    [InlineData("SELECT * FROM loop(mysql('127.0.0.1:9', 'd', 't', 'u', 'p'))")]
    [InlineData("SELECT 1 AS x FORMAT Protobuf SETTINGS format_protobuf_use_autogenerated_schema = 1, output_format_schema = '/tmp/streamengine-admin.proto'")]
    [InlineData("SELECT 1 AS x FORMAT Protobuf SETTINGS format_schema_source = 'query', format_schema = 'SELECT toUInt8(file(''/tmp/streamengine-secret.txt''))', format_schema_message_name = 'M'")]
    [InlineData("SELECT * FROM `file`('/tmp/streamengine-secret.txt', 'LineAsString')")]
    [InlineData("SELECT * FROM default.file('/tmp/streamengine-secret.txt', 'LineAsString')")]
    [InlineData("DESCRIBE TABLE mysql('127.0.0.1:9', 'd', 't', 'u', 'p')")]
    [InlineData("CREATE TABLE {db}.d2 (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS disk = `disk`(type = local, path = '/tmp/streamengine-disk/')")]
    [InlineData("WITH (SELECT any(line) FROM file('/tmp/streamengine-secret.txt', 'LineAsString')) AS s SELECT s")]
    [InlineData("SELECT * FROM numbers(1) ARRAY JOIN (SELECT groupArray(line) FROM file('/tmp/streamengine-secret.txt', 'LineAsString')) AS x")]
    [InlineData("ALTER TABLE {db}.t MODIFY COLUMN name String DEFAULT file('/tmp/streamengine-secret.txt')")]
    [InlineData("CREATE FUNCTION streamengine_f AS () -> file('/tmp/streamengine-secret.txt')")]
    [InlineData("SELECT * FROM system.one SETTINGS additional_table_filters = {'system.one': 'toUInt8((SELECT any(line) FROM file(\\'/tmp/streamengine-secret.txt\\', \\'LineAsString\\'))) = 1'}")]
    [InlineData("EXPLAIN SELECT * FROM file('/etc/hostname', 'LineAsString')")]
    [InlineData("RESTORE TABLE {db}.t FROM File('/tmp/streamengine-backup.zip')")]
    [InlineData("CREATE TABLE {db}.e (a String) ENGINE = Executable('id', TSV)")]
    public async Task The_admin_never_reaches_the_engines_filesystem_network_or_process(string sql)
    {
        using var response = await SendAsync(HttpMethod.Post, "/", sql.Replace("{db}", _db, StringComparison.Ordinal), ("admin", "s3cret"));

        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("497", Code(response));
        Assert.Contains("Not enough privileges", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(clickHouse.DataPath, "user_files", "streamengine-pwned.txt")) || File.Exists("streamengine-pwned.txt") ||
                     File.Exists("/tmp/streamengine-pwned.csv") || File.Exists("/tmp/streamengine-outfile.txt") || Directory.Exists("/tmp/streamengine-disk"),
            "nothing may be written outside the store");
        Assert.Equal("0", clickHouse.Store.QueryText("SELECT count() FROM system.databases WHERE name = 'streamengine_fs'").Trim());
        Assert.True(TableExists());
    }

    [Fact]
    public async Task The_admin_keeps_everything_on_the_store_itself()
    {
        foreach (var sql in new[]
                 {
                     $"CREATE TABLE {_db}.ok (a UInt64) ENGINE = ReplacingMergeTree ORDER BY tuple()",
                     $"INSERT INTO {_db}.ok SELECT number FROM numbers(10) SETTINGS max_threads = 1",
                     $"CREATE VIEW {_db}.okv AS SELECT a FROM {_db}.ok",
                     $"CREATE DICTIONARY {_db}.okd (id UInt32, name String) PRIMARY KEY id SOURCE(CLICKHOUSE(TABLE 't' DB '{_db}')) LAYOUT(FLAT()) LIFETIME(0)",
                     $"SELECT count() FROM view(SELECT * FROM {_db}.okv) WHERE a IN (SELECT number FROM numbers(5))",
                     $"SELECT dictGet('{_db}.okd', 'name', toUInt64(1))",
                     "SELECT a FROM generateRandom('a UInt8', 1) LIMIT 3",
                 })
        {
            using var response = await SendAsync(HttpMethod.Post, "/", sql, ("admin", "s3cret"));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{sql}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    [Theory]
    [InlineData("SELECT 1; DROP TABLE {db}.t")]
    [InlineData("SELECT 1 /* ; */ ; DROP TABLE {db}.t")]
    [InlineData("SELECT 1 /* /* nested ; */ still comment */; DROP TABLE {db}.t")]
    [InlineData("SELECT '--'; DROP TABLE {db}.t")]
    [InlineData("SELECT 1 -- comment\n; DROP TABLE {db}.t")]
    [InlineData("SELECT 1 # comment\n; DROP TABLE {db}.t")]
    [InlineData("SELECT 'it''s'; DROP TABLE {db}.t")]
    [InlineData("SELECT 'a\\'; DROP TABLE {db}.t")]
    [InlineData("SELECT 1 AS `a;b`; DROP TABLE {db}.t")]
    [InlineData("SELECT \"x;\" FROM (SELECT 1 AS `x;`); DROP TABLE {db}.t")]
    [InlineData("SELECT $$;$$; DROP TABLE {db}.t")]
    [InlineData("SELECT $tag$ ; $tag$; DROP TABLE {db}.t")]
    [InlineData("DROP TABLE {db}.t; SELECT 1")]
    [InlineData("SELECT 1\\G DROP TABLE {db}.t")]
    [InlineData("SELECT 1;\n;DROP TABLE {db}.t")]
    [InlineData("SELECT 'p\\\\'; DROP TABLE {db}.t; -- '")]
    public async Task A_second_statement_never_runs_however_it_is_hidden(string sql)
    {
        using var response = await SendAsync(HttpMethod.Post, "/", sql.Replace("{db}", _db, StringComparison.Ordinal), ("admin", "s3cret"));

        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.True(TableExists(), $"{sql}: the table must still be there");
    }

    [Theory]
    [InlineData("INSERT INTO {db}.t VALUES (2, 'two')")]
    [InlineData("CREATE TABLE {db}.g (a UInt8) ENGINE = Memory")]
    [InlineData("DROP TABLE {db}.t")]
    [InlineData("SELECT 1 SETTINGS readonly = 0")]
    [InlineData("KILL QUERY WHERE query LIKE '%streamengine-nothing%'")]
    [InlineData("SELECT 1 AS x FORMAT Protobuf SETTINGS format_protobuf_use_autogenerated_schema = 1, output_format_schema = '/tmp/streamengine-get.proto'")]
    [InlineData("OPTIMIZE TABLE {db}.t FINAL")]
    [InlineData("TRUNCATE TABLE {db}.t")]
    public async Task A_GET_only_reads_whoever_sends_it(string sql)
    {
        using var response = await SendAsync(HttpMethod.Get, "/?query=" + Uri.EscapeDataString(sql.Replace("{db}", _db, StringComparison.Ordinal)), null, ("admin", "s3cret"));

        Assert.Contains(Code(response), GetRefusals); // READONLY, or ACCESS_DENIED for what nobody may do
        Assert.True(TableExists());
        Assert.Equal("1", clickHouse.Store.QueryText($"SELECT count() FROM {_db}.t").Trim());
    }

    [Fact]
    public async Task Browsers_on_other_sites_are_refused_and_allowed_origins_get_CORS()
    {
        // A page on any site can send a "simple" POST (text/plain) to 127.0.0.1: the Origin header gives it away.
        using var evil = await SendAsync(HttpMethod.Post, "/", $"DROP TABLE {_db}.t", ("admin", "s3cret"), headers: [("Origin", "http://evil.example")]);
        Assert.Equal(HttpStatusCode.Forbidden, evil.StatusCode);
        Assert.Equal("497", Code(evil));
        Assert.True(TableExists());
        using var preflight = await SendAsync(HttpMethod.Options, "/", null, null, headers: [("Origin", "http://evil.example"), ("Access-Control-Request-Method", "POST")]);
        Assert.Equal(HttpStatusCode.Forbidden, preflight.StatusCode);
        // A DNS name rebound to 127.0.0.1 names itself in the Host header.
        using var rebound = await SendAsync(HttpMethod.Post, "/", "SELECT 1", ("admin", "s3cret"), headers: [("Host", "evil.example:8123")]);
        Assert.Equal(HttpStatusCode.Forbidden, rebound.StatusCode);

        using var allowedPreflight = await SendAsync(HttpMethod.Options, "/", null, null, headers: [("Origin", AllowedOrigin), ("Access-Control-Request-Method", "POST")]);
        Assert.Equal(HttpStatusCode.NoContent, allowedPreflight.StatusCode);
        Assert.Equal(AllowedOrigin, allowedPreflight.Headers.GetValues("Access-Control-Allow-Origin").Single());
        using var allowed = await SendAsync(HttpMethod.Post, "/", "SELECT 40 + 2", ("admin", "s3cret"), headers: [("Origin", AllowedOrigin)]);
        Assert.Equal("42\n", await allowed.Content.ReadAsStringAsync());
        Assert.Equal(AllowedOrigin, allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Theory]
    [InlineData("SELECT 1 SETTINGS max_execution_time = 0")]
    [InlineData("SELECT * FROM (SELECT 1 SETTINGS max_result_rows = 0)")]
    [InlineData("SELECT 1 FORMAT TSV SETTINGS max_memory_usage = 0")]
    [InlineData("SELECT 1 SETTINGS output_format_json_quote_64bit_integers = 1, max_result_rows = 0")]
    [InlineData("SET max_result_rows = 0")]
    [InlineData("SELECT 1 SETTINGS `max_execution_time` = 0")]
    [InlineData("SELECT * FROM (SELECT getSetting('max_result_rows') SETTINGS output_format_orc_dictionary_key_size_threshold = 1e-300, max_result_rows = 0)")]
    [InlineData("SELECT * FROM (SELECT 1 SETTINGS readonly = 0)")]
    [InlineData("SELECT * FROM (SELECT 1 SETTINGS max_execution_time = 0)")]
    [InlineData("SELECT 1 SETTINGS max_execution_time = 0.0")]
    public async Task Analysts_cannot_lift_their_limits_in_the_query(string sql)
    {
        using var response = await SendAsync(HttpMethod.Post, "/", sql, ("analyst", "look"));

        Assert.Contains(Code(response), GetRefusals); // READONLY, or ACCESS_DENIED for a setting nobody may change
    }

    [Fact]
    public async Task Analysts_cannot_lift_their_limits_in_the_url_and_meet_them()
    {
        using var lifted = await SendAsync(HttpMethod.Get, "/?query=SELECT%201&max_result_rows=0", null, ("analyst", "look"));
        Assert.Equal("164", Code(lifted));

        using var formatted = await SendAsync(HttpMethod.Get, "/?query=SELECT%20toUInt64(1)%20AS%20n%20FORMAT%20JSONEachRow&output_format_json_quote_64bit_integers=1", null, ("analyst", "look"));
        Assert.Equal("{\"n\":\"1\"}\n", await formatted.Content.ReadAsStringAsync());

        using var tooManyRows = await SendAsync(HttpMethod.Post, "/", "SELECT number FROM numbers(5000)", ("analyst", "look"));
        Assert.Equal("396", Code(tooManyRows)); // TOO_MANY_ROWS_OR_BYTES: max_result_rows 1000 here
        using var tooLong = await SendAsync(HttpMethod.Post, "/", "SELECT count() FROM numbers_mt(100000000000000)", ("analyst", "look"));
        Assert.Equal("159", Code(tooLong)); // TIMEOUT_EXCEEDED: max_execution_time 1 s here
        using var writes = await SendAsync(HttpMethod.Post, "/", $"INSERT INTO {_db}.t VALUES (3, 'three')", ("analyst", "look"));
        Assert.Equal("164", Code(writes));
        using var tableFunction = await SendAsync(HttpMethod.Post, "/", "SELECT * FROM file('/etc/hostname', 'LineAsString')", ("analyst", "look"));
        Assert.Equal("497", Code(tableFunction));
    }

    [Fact]
    public async Task Analysts_run_no_more_queries_at_once_than_allowed()
    {
        await using var endpoint = await StartAsync(new ReadOnlyLimits { MaxConcurrentQueries = 1, MaxExecutionTime = TimeSpan.FromSeconds(30) });
        using var http = new HttpClient { BaseAddress = endpoint.Url };
        using var slow = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("SELECT sleepEachRow(1), 'slow analyst' FROM numbers(3) FORMAT Null") };
        slow.Headers.Authorization = BasicAuth.Header("analyst", "look");
        var running = http.SendAsync(slow);

        // Once the store runs it, a second analyst query is refused at once; the admin is not limited.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (clickHouse.Store.QueryText("SELECT count() FROM system.processes WHERE query LIKE '%slow analyst%' AND query NOT LIKE '%system.processes%' AND query NOT LIKE '%formatQuery%' AND query NOT LIKE 'EXPLAIN%'").Trim() == "0")
        {
            Assert.True(DateTime.UtcNow < deadline && !running.IsCompleted, "the slow query never showed up in system.processes");
            await Task.Delay(20);
        }

        using var second = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("SELECT 1") };
        second.Headers.Authorization = BasicAuth.Header("analyst", "look");
        using var refused = await http.SendAsync(second);
        Assert.Equal("202", Code(refused)); // TOO_MANY_SIMULTANEOUS_QUERIES
        using var admin = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("SELECT 1") };
        admin.Headers.Authorization = BasicAuth.Header("admin", "s3cret");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(admin)).StatusCode);

        using var finished = await running;
        Assert.Equal(HttpStatusCode.OK, finished.StatusCode);
        using var after = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("SELECT 1") };
        after.Headers.Authorization = BasicAuth.Header("analyst", "look");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(after)).StatusCode); // the slot came back
    }

    [Fact]
    public async Task With_a_certificate_the_endpoint_speaks_HTTPS_to_ClickHouse_Driver_and_refuses_plain_HTTP()
    {
        using var certificate = new SelfSignedCertificate();
        await using var endpoint = await ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, new ClickHouseHttpOptions
        {
            Port = 0,
            Users = [ClickHouseUser.WithPassword("admin", "s3cret", ClickHouseRole.Admin)],
            Tls = new StreamEngine.Host.Security.TlsCertificateFiles(certificate.CertificatePath, certificate.KeyPath),
        });

        Assert.Equal("https", endpoint.Url.Scheme);
        await using var driver = new StreamEngine.ClickHouse.Stores.ServerStore(new StreamEngine.ClickHouse.Stores.ServerStoreOptions
        {
            Url = endpoint.Url, User = "admin", Password = "s3cret", SkipCertificateValidation = true,
        });
        Assert.Equal("1", (await driver.QueryAsync($"SELECT count() FROM {_db}.t")).Trim());
        using var trusting = certificate.TrustingClient(endpoint.Url);
        trusting.DefaultRequestHeaders.Authorization = BasicAuth.Header("admin", "s3cret");
        Assert.Equal("42\n", await trusting.GetStringAsync("/?query=SELECT%2042"));
        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{endpoint.Port}/") };
        plain.DefaultRequestHeaders.Authorization = BasicAuth.Header("admin", "s3cret");
        await Assert.ThrowsAnyAsync<HttpRequestException>(async () => (await plain.GetAsync("/?query=SELECT%2042")).EnsureSuccessStatusCode());
    }

    [Fact]
    public async Task The_database_parameter_cannot_inject_statements()
    {
        // A database whose name ends in a backslash, then a name that would close the quoting early.
        clickHouse.Store.Execute($"CREATE DATABASE `{_db}\\\\`");
        var database = $"{_db}\\`; INSERT INTO {_db}.t SELECT 77, line FROM file('{Secret}', 'LineAsString'); SYSTEM DROP MARK CACHE; -- ";
        using var injected = await SendAsync(HttpMethod.Post, "/?database=" + Uri.EscapeDataString(database), "SELECT 1", ("admin", "s3cret"));
        var leaked = clickHouse.Store.QueryText($"SELECT name FROM {_db}.t WHERE id = 77");
        Assert.True(leaked.Trim().Length == 0, $"HTTP {(int)injected.StatusCode} {await injected.Content.ReadAsStringAsync()}; the file went into the table: {leaked}");
    }

    [Theory]
    [InlineData("admin")]
    [InlineData("analyst")]
    public async Task The_guard_reads_exactly_the_text_that_runs_backslashes_included(string user)
    {
        using var response = await SendAsync(HttpMethod.Post, "/", $"SELECT 'p\\\\' AS a, file($${Secret}$$) AS b -- '", (user, user == "admin" ? "s3cret" : "look"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.False(text.Contains("TOP-SECRET-42", StringComparison.Ordinal), $"HTTP {(int)response.StatusCode}: {text}");
    }

    [Fact]
    public async Task Dictionaries_never_read_files_through_expressions_or_queries_in_their_source()
    {
        foreach (var (name, ddl) in new[]
                 {
                     ("dx", $"CREATE DICTIONARY {_db}.dx (id UInt32, name String EXPRESSION 'file(''{Secret}'')') PRIMARY KEY id SOURCE(CLICKHOUSE(TABLE 't' DB '{_db}')) LAYOUT(FLAT()) LIFETIME(0)"),
                     ("dq", $"CREATE DICTIONARY {_db}.dq (id UInt64, name String) PRIMARY KEY id SOURCE(CLICKHOUSE(DB ')' QUERY 'SELECT toUInt64(1) AS id, line AS name FROM file(''{Secret}'', ''LineAsString'')')) LAYOUT(FLAT()) LIFETIME(0)"),
                 })
        {
            using var created = await SendAsync(HttpMethod.Post, "/", ddl, ("admin", "s3cret"));
            using var read = await SendAsync(HttpMethod.Post, "/", $"SELECT dictGet('{_db}.{name}', 'name', toUInt64(1))", ("admin", "s3cret"));
            var text = await read.Content.ReadAsStringAsync();
            Assert.False(text.Contains("TOP-SECRET-42", StringComparison.Ordinal), $"{name}: create HTTP {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}; dictGet HTTP {(int)read.StatusCode}: {text}");
        }
    }

    [Fact]
    public async Task Values_data_in_the_body_cannot_call_functions()
    {
        using var response = await SendAsync(HttpMethod.Post, "/?query=" + Uri.EscapeDataString($"INSERT INTO {_db}.t FORMAT Values"), $"(3, file('{Secret}'))", ("admin", "s3cret"));
        var leaked = clickHouse.Store.QueryText($"SELECT name FROM {_db}.t WHERE id = 3");
        Assert.True(leaked.Trim().Length == 0, $"HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}; the file went into the table: {leaked}");
    }

    [Fact]
    public async Task The_format_table_function_cannot_call_functions_in_its_data()
    {
        using var response = await SendAsync(HttpMethod.Post, "/", $"SELECT * FROM format(Values, 'x String', '(file(''{Secret}''))')", ("admin", "s3cret"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("TOP-SECRET-42", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inline_VALUES_cannot_call_functions()
    {
        using var response = await SendAsync(HttpMethod.Post, "/", $"INSERT INTO {_db}.t VALUES (4, file('{Secret}'))", ("admin", "s3cret"));
        var leaked = clickHouse.Store.QueryText($"SELECT name FROM {_db}.t WHERE id = 4");
        Assert.True(leaked.Trim().Length == 0, $"HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}; the file went into the table: {leaked}");
    }

    [Theory]
    [InlineData("/?query=SELECT%201%20FORMAT%20Template&format_template_resultset=/tmp/streamengine-secret.txt", null)]
    [InlineData("/", "SELECT * FROM (SELECT * FROM format(Values, 'x String', '(file(''/tmp/streamengine-secret.txt''))') SETTINGS readonly = 0)")]
    [InlineData("/?query=SELECT%201%20AS%20x%20FORMAT%20Protobuf&format_schema_source=query&format_schema_message_name=M&format_schema=SELECT%20toUInt8(file('/tmp/streamengine-secret.txt'))", null)]
    public async Task Analysts_never_read_files_through_settings_or_subqueries(string url, string? body)
    {
        using var response = await SendAsync(body is null ? HttpMethod.Get : HttpMethod.Post, url, body, ("analyst", "look"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.False(text.Contains("TOP-SECRET-42", StringComparison.Ordinal), $"HTTP {(int)response.StatusCode}: {text}");
    }

    [Fact]
    public async Task Analysts_never_write_files_through_format_settings()
    {
        const string path = "/tmp/streamengine-analyst.proto";
        File.Delete(path);
        using var response = await SendAsync(HttpMethod.Get, "/?query=SELECT%201%20AS%20x%20FORMAT%20Protobuf&format_protobuf_use_autogenerated_schema=1&output_format_schema=" + path, null, ("analyst", "look"));
        Assert.False(File.Exists(path), $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()} wrote {path}: {(File.Exists(path) ? File.ReadAllText(path) : "")}");
    }

    [Fact]
    public async Task Analysts_cannot_kill_other_queries()
    {
        using var http = new HttpClient { BaseAddress = _endpoint.Url };
        using var slow = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("SELECT sleepEachRow(1), 'slow admin query' FROM numbers(4) FORMAT Null SETTINGS max_block_size = 1") };
        slow.Headers.Authorization = BasicAuth.Header("admin", "s3cret");
        var running = http.SendAsync(slow);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (clickHouse.Store.QueryText("SELECT count() FROM system.processes WHERE query LIKE '%slow admin query%' AND query NOT LIKE '%system.processes%' AND query NOT LIKE '%formatQuery%' AND query NOT LIKE 'EXPLAIN%'").Trim() == "0" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        using var kill = await SendAsync(HttpMethod.Post, "/", "KILL QUERY WHERE query LIKE '%slow admin query%' AND query NOT LIKE '%KILL%' SYNC", ("analyst", "look"));
        var killText = await kill.Content.ReadAsStringAsync();
        using var finished = await running;
        Assert.True(finished.StatusCode == HttpStatusCode.OK, $"analyst KILL: HTTP {(int)kill.StatusCode} {killText}; admin query: HTTP {(int)finished.StatusCode} {await finished.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task Without_credentials_the_data_path_is_not_revealed()
    {
        using var response = await SendAsync(HttpMethod.Post, "/", "SELECT 1", null);
        Assert.False(response.Headers.Contains(ClickHouseHttpEndpoint.DataPathHeader), $"HTTP {(int)response.StatusCode} data path: {string.Join(",", response.Headers.TryGetValues(ClickHouseHttpEndpoint.DataPathHeader, out var v) ? v : [])}");
    }

    [Fact]
    public async Task A_malformed_basic_auth_header_is_an_authentication_failure()
    {
        using var http = new HttpClient { BaseAddress = _endpoint.Url };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("SELECT 1") };
        request.Headers.TryAddWithoutValidation("Authorization", "Basic !!!notbase64");
        using var response = await http.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"HTTP {(int)response.StatusCode}");
    }

    [Theory]
    [InlineData("localhost.")]
    [InlineData("127.0.0.1.evil.example")]
    [InlineData("evil.example")]
    public async Task Host_headers_naming_other_machines_are_refused(string host)
    {
        using var response = await SendAsync(HttpMethod.Post, "/", "SELECT 1", ("admin", "s3cret"), headers: [("Host", host)]);
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{host}: HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task A_bad_setting_value_fails_its_request_only()
    {
        using var bad = await SendAsync(HttpMethod.Get, "/?query=SELECT%201&max_threads=abc", null, ("admin", "s3cret"));
        Assert.Equal("27", Code(bad)); // CANNOT_PARSE_INPUT_ASSERTION_FAILED, as ClickHouse answers it
        using var twice = await SendAsync(HttpMethod.Get, "/?query=SELECT%20getSetting('max_threads')&max_threads=1&max_threads=2", null, ("admin", "s3cret"));
        Assert.Equal("2\n", await twice.Content.ReadAsStringAsync()); // the last one, as ClickHouse takes it
        using var next = await SendAsync(HttpMethod.Get, "/?query=SELECT%2042", null, ("admin", "s3cret"));
        Assert.Equal("42\n", await next.Content.ReadAsStringAsync()); // the store still opens (a bad start-up argument broke it)
    }

    /// <summary>
    /// A seeded fuzz of request handling: statements built from fragments that have broken splitters and guards
    /// (quotes, comments, semicolons, settings, table functions), URL settings and parameters, compressed and raw
    /// bodies, both users and methods. Every answer is a result or ClickHouse's error with its code, nothing writes
    /// outside the store, nothing drops the table, and the endpoint keeps answering.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Fuzzed_requests_get_a_result_or_ClickHouses_error_and_change_nothing_they_may_not(int seed)
    {
        string[] fragments =
        [
            "SELECT 1", "SELECT number FROM numbers(3)", ";", " ; ", "/*", "*/", "--", "\n", "#", "'", "''", "\\", "\"", "`", "$$", "$x$",
            $"DROP TABLE {_db}.t", $"INSERT INTO {_db}.t VALUES (9, 'z')", "file('/etc/hostname', 'LineAsString')", "url('http://127.0.0.1:9/', CSV, 'a String')",
            " SETTINGS max_threads = 1", " SETTINGS max_result_rows = 0", " SETTINGS readonly = 0", " FORMAT JSON", " FROM ", " (", ")", ",", "{p:String}",
            "view(SELECT 1)", "format(Values, 'x String', '(1)')", "SYSTEM FLUSH LOGS", $"CREATE TABLE {_db}.fz (a UInt8) ENGINE = Memory", " UNION ALL ",
            "INTO OUTFILE '/tmp/streamengine-fuzz.txt'", "é", "\u0000", "SETTINGS", "=", "1e-300",
        ];
        string[] urlSettings = ["max_threads=1", "max_result_rows=0", "readonly=0", "readonly=1", "format_template_resultset=/etc/hostname", "output_format_json_quote_64bit_integers=1", "database=" + _db, "database=nope`x", "param_p=x'y", "no_such_setting=1"];
        var random = new Random(seed);
        using var http = new HttpClient { BaseAddress = _endpoint.Url };
        for (var i = 0; i < 300; i++)
        {
            var get = random.Next(3) == 0;
            var admin = random.Next(2) == 0;
            // An admin's POST may drop the table as its one statement: only the others' may not, however it is written.
            var allowed = admin && !get ? fragments.Where(f => !f.StartsWith("DROP", StringComparison.Ordinal)).ToArray() : fragments;
            var sql = string.Concat(Enumerable.Range(0, 1 + random.Next(5)).Select(_ => allowed[random.Next(allowed.Length)] + (random.Next(3) == 0 ? " " : "")));
            var query = string.Join('&', Enumerable.Range(0, random.Next(3)).Select(_ => urlSettings[random.Next(urlSettings.Length)]));
            using var request = new HttpRequestMessage(get ? HttpMethod.Get : HttpMethod.Post, "/?" + (get ? "query=" + Uri.EscapeDataString(sql) + "&" : "") + query);
            request.Headers.Authorization = admin ? BasicAuth.Header("admin", "s3cret") : BasicAuth.Header("analyst", "look");
            if (!get)
            {
                var body = Encoding.UTF8.GetBytes(sql);
                if (random.Next(4) == 0)
                {
                    using var packed = new MemoryStream();
                    await using (var gzip = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
                    {
                        await gzip.WriteAsync(body);
                    }

                    body = random.Next(5) == 0 ? packed.ToArray()[..Math.Max(1, (int)packed.Length / 2)] : packed.ToArray(); // sometimes cut short
                    request.Content = new ByteArrayContent(body);
                    request.Content.Headers.ContentEncoding.Add("gzip");
                }
                else
                {
                    request.Content = new ByteArrayContent(body);
                }
            }

            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK || (response.Headers.Contains("X-ClickHouse-Exception-Code") && text.StartsWith("Code: ", StringComparison.Ordinal)),
                $"{sql} ?{query}: HTTP {(int)response.StatusCode} {text}");
        }

        Assert.True(TableExists(), "no fuzzed request may drop the table");
        Assert.False(File.Exists("/tmp/streamengine-fuzz.txt"));
        Assert.Equal("Ok.\n", await http.GetStringAsync("/ping"));
    }

    private Task<ClickHouseHttpEndpoint> StartAsync(ReadOnlyLimits limits) => ClickHouseHttpEndpoint.StartAsync(clickHouse.Store, new ClickHouseHttpOptions
    {
        Port = 0,
        Users = [ClickHouseUser.WithPassword("admin", "s3cret", ClickHouseRole.Admin), ClickHouseUser.WithPassword("analyst", "look", ClickHouseRole.ReadOnly)],
        AllowedOrigins = [AllowedOrigin],
        ReadOnly = limits,
    });

    private bool TableExists() => clickHouse.Store.QueryText($"EXISTS TABLE {_db}.t").Trim() == "1";

    private static string Code(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-ClickHouse-Exception-Code", out var codes) ? codes.Single() : $"none (HTTP {(int)response.StatusCode})";

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, string? body, (string User, string Password)? credentials, (string Name, string Value)[]? headers = null)
    {
        using var http = new HttpClient { BaseAddress = _endpoint.Url };
        using var request = new HttpRequestMessage(method, url);
        if (credentials is { } c)
        {
            request.Headers.Authorization = BasicAuth.Header(c.User, c.Password);
        }

        foreach (var (name, value) in headers ?? [])
        {
            if (name == "Host")
            {
                request.Headers.Host = value;
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "text/plain");
        }

        var response = await http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }
}
