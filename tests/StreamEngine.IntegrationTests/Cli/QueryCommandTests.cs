using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.Cli;

/// <summary>
/// <c>streamengine query</c> against the embedded store, each call its own process: the data folder survives
/// close and reopen, and every process exits cleanly (chDB aborts at exit when a connection is left open).
/// </summary>
public sealed class QueryCommandTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Data_written_by_one_process_is_read_by_the_next_and_each_exits_cleanly()
    {
        using var folder = new TemporaryDirectory();
        var path = $"clickhouse.path={folder.Path}";

        using var create = await StreamEngineCli.RunAsync(Patience, "query", "--set", path,
            "CREATE DATABASE ads; CREATE TABLE ads.t (id UInt64, campaign String) ENGINE = MergeTree ORDER BY id; " +
            "INSERT INTO ads.t SELECT number, concat('c', toString(number % 3)) FROM numbers(1000)");
        Assert.True(create.ExitCode == 0, $"exit {create.ExitCode}: {create.StandardError}");

        using var read = await StreamEngineCli.RunAsync(Patience, "query", "--set", path, "--format", "JSONEachRow",
            "SELECT campaign, count() AS n FROM ads.t GROUP BY campaign ORDER BY campaign");
        Assert.True(read.ExitCode == 0, $"exit {read.ExitCode}: {read.StandardError}");
        Assert.Equal(
            ["{\"campaign\":\"c0\",\"n\":334}", "{\"campaign\":\"c1\",\"n\":333}", "{\"campaign\":\"c2\",\"n\":333}"],
            read.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Format_ArrowStream_writes_Arrow_IPC_a_notebook_can_read()
    {
        using var folder = new TemporaryDirectory();
        var output = folder.File("result.arrow");

        // Through a shell, so standard output goes to a file byte for byte.
        using var run = await ChildProcess.RunAsync("bash", ["-c", "exec \"$0\" exec \"$1\" query --set \"$2\" --format ArrowStream \"$3\" > \"$4\"",
            Environment.ProcessPath!, StreamEngineCli.AssemblyPath, $"clickhouse.path={folder.Path}",
            "SELECT number AS id, concat('c', toString(number % 3)) AS campaign FROM numbers(1000)", output], Patience);
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.StandardError}");

        await using var file = File.OpenRead(output);
        // ClickHouse compresses Arrow buffers with LZ4 frames by default, as pyarrow and Arrow's codecs expect.
        using var reader = new Apache.Arrow.Ipc.ArrowStreamReader(file, new Apache.Arrow.Compression.CompressionCodecFactory());
        Assert.Equal(["id", "campaign"], reader.Schema.FieldsList.Select(f => f.Name));
        long rows = 0;
        long sum = 0;
        while (await reader.ReadNextRecordBatchAsync() is { } batch)
        {
            using (batch)
            {
                rows += batch.Length;
                var ids = (Apache.Arrow.UInt64Array)batch.Column(0);
                for (var i = 0; i < batch.Length; i++)
                {
                    sum += (long)ids.GetValue(i)!.Value;
                }
            }
        }

        Assert.Equal(1000, rows);
        Assert.Equal(999 * 1000 / 2, sum);
    }

    [Fact]
    public async Task A_failing_query_exits_1_with_ClickHouse_error_on_one_line()
    {
        using var folder = new TemporaryDirectory();

        using var run = await StreamEngineCli.RunAsync(Patience, "query", "--set", $"clickhouse.path={folder.Path}", "SELECT * FROM no_such_table");

        Assert.Equal(1, run.ExitCode);
        var error = run.StandardError.TrimEnd('\n');
        Assert.DoesNotContain('\n', error);
        Assert.Contains("UNKNOWN_TABLE", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_configuration_key_is_named()
    {
        using var run = await StreamEngineCli.RunAsync(Patience, "query", "--set", "clickhouse.paht=/tmp/x", "SELECT 1");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("unknown configuration key 'clickhouse.paht'", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_chDB_library_is_reported_with_the_command_that_installs_it()
    {
        using var folder = new TemporaryDirectory();
        var environment = new Dictionary<string, string> { ["STREAMENGINE_CHDB_LIB"] = folder.File("libchdb.so") };

        using var run = await StreamEngineCli.RunAsync(Patience, environment, "query", "--set", $"clickhouse.path={folder.Path}", "SELECT 1");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("deploy/local/setup.sh", run.StandardError, StringComparison.Ordinal);
        Assert.Contains(folder.File("libchdb.so"), run.StandardError, StringComparison.Ordinal);
    }
}
