using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using StreamEngine.ClickHouse;
using StreamEngine.ClickHouse.Embedded;
using StreamEngine.ClickHouse.Sink;
using StreamEngine.ClickHouse.Stores;
using StreamEngine.Host.Cli;
using StreamEngine.Host.Configuration;

namespace StreamEngine.Host.Commands;

/// <summary>
/// <c>streamengine backup --to DIR</c> and <c>streamengine restore --from DIR</c>: the embedded store (clickhouse.path)
/// with ClickHouse's own BACKUP and RESTORE, offsets included, so a restored store resumes exactly once from where it
/// was. The checkpoints (offsets and states) are backed up first and the rest of the database after them: results
/// then cover at least what the offsets say, the state of a crash after the results were written and before their
/// checkpoint, which a restart already handles (the replay rewrites the same rows). The store must not be open in
/// another process (stop the engine or the demo first). A ClickHouse server is backed up with its own BACKUP
/// statements in the same order (docs/operations.md).
/// </summary>
public static class BackupCommand
{
    public const string ManifestFile = "streamengine-backup.json";
    private const string OffsetsFolder = "offsets";
    private const string DataFolder = "data";
    private const string CheckpointTable = CheckpointStore.TableName;

    /// <summary>The checkpoint table of backups made before checkpoints carried generations.</summary>
    private const string LegacyCheckpointTable = "partition_checkpoints";

    public static Command CreateBackup()
    {
        var to = CliOptions.Text("--to", "a new or empty folder to back up into (required)", "DIR");
        var config = CliOptions.Config();
        var set = CliOptions.Set();
        var command = new Command("backup", "back up the embedded store (clickhouse.path), offsets included; stop its engine first") { to, config, set };
        command.SetAction((parse, _) => BackupAsync(parse.GetValue(to), parse.GetValue(config), parse.GetValue(set) ?? [], Console.Out));
        return command;
    }

    public static Command CreateRestore()
    {
        var from = CliOptions.Text("--from", "a folder made by streamengine backup (required)", "DIR");
        var config = CliOptions.Config();
        var set = CliOptions.Set();
        var command = new Command("restore", "restore a backup into an empty store; jobs then resume exactly once from its offsets") { from, config, set };
        command.SetAction((parse, _) => RestoreAsync(parse.GetValue(from), parse.GetValue(config), parse.GetValue(set) ?? [], Console.Out));
        return command;
    }

    public static async Task<int> BackupAsync(string? folder, string? configFile, IReadOnlyList<string> set, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var target = Path.GetFullPath(folder ?? throw new UsageException("backup: --to DIR is required (a new or empty folder)"));
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
        {
            throw new UsageException($"backup: '{target}' is not empty; back up into a new or empty folder");
        }

        var (settings, path, database) = EmbeddedStore("backup", configFile, set);
        if (!Directory.Exists(path))
        {
            throw new UsageException($"backup: there is no store at clickhouse.path '{path}'");
        }

        using var clickHouse = Open(path, target);
        if (!Tables(clickHouse, database).Contains(CheckpointTable))
        {
            throw new UsageException($"backup: database '{database}' at '{path}' holds no {CheckpointTable} table: no job has run on this store");
        }

        Directory.CreateDirectory(target);
        // Offsets first, then everything else: the results in the backup are never older than its offsets.
        var started = DateTimeOffset.UtcNow;
        var checkpoints = clickHouse.QueryText($"SELECT count() FROM {database}.{CheckpointTable} FINAL").Trim();
        clickHouse.Execute($"BACKUP TABLE {database}.{CheckpointTable} TO File({ClickHouseSql.Literal(Path.Combine(target, OffsetsFolder))})");
        clickHouse.Execute($"BACKUP DATABASE {database} EXCEPT TABLES {database}.{CheckpointTable} TO File({ClickHouseSql.Literal(Path.Combine(target, DataFolder))})");
        var tables = Tables(clickHouse, database);
        var manifest = new Manifest(1, database, started, [.. tables], long.Parse(checkpoints, CultureInfo.InvariantCulture));
        await File.WriteAllTextAsync(Path.Combine(target, ManifestFile), JsonSerializer.Serialize(manifest, ManifestJson));
        await output.WriteLineAsync($"streamengine backup: database {database} ({tables.Count} tables and views, {manifest.CheckpointRows} partition checkpoints) from {path} to {target}");
        return 0;
    }

    public static async Task<int> RestoreAsync(string? folder, string? configFile, IReadOnlyList<string> set, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var source = Path.GetFullPath(folder ?? throw new UsageException("restore: --from DIR is required (a folder made by streamengine backup)"));
        var manifestPath = Path.Combine(source, ManifestFile);
        if (!File.Exists(manifestPath))
        {
            throw new UsageException($"restore: '{source}' is not a StreamEngine backup (no {ManifestFile})");
        }

        var manifest = JsonSerializer.Deserialize<Manifest>(await File.ReadAllTextAsync(manifestPath), ManifestJson)
                       ?? throw new UsageException($"restore: {manifestPath} is empty");
        if (manifest.Format != 1)
        {
            throw new UsageException($"restore: {manifestPath} has format {manifest.Format}; this build reads format 1");
        }

        var (_, path, database) = EmbeddedStore("restore", configFile, set);
        if (database != manifest.Database)
        {
            throw new UsageException($"restore: the backup holds database '{manifest.Database}', the configuration says clickhouse.database '{database}'");
        }

        Directory.CreateDirectory(path);
        using var clickHouse = Open(path, source);
        if (Tables(clickHouse, database).Count > 0)
        {
            throw new UsageException($"restore: database '{database}' at clickhouse.path '{path}' already holds tables; restore into an empty store (another clickhouse.path)");
        }

        clickHouse.Execute($"DROP DATABASE IF EXISTS {database}");
        clickHouse.Execute($"RESTORE DATABASE {database} FROM File({ClickHouseSql.Literal(Path.Combine(source, DataFolder))})");
        var offsets = $"File({ClickHouseSql.Literal(Path.Combine(source, OffsetsFolder))})";
        var table = CheckpointTable;
        try
        {
            clickHouse.Execute($"RESTORE TABLE {database}.{table} FROM {offsets}");
        }
        catch (ClickHouseException)
        {
            // A backup from before checkpoint generations holds the older table: the next run migrates it (migration 4).
            table = LegacyCheckpointTable;
            clickHouse.Execute($"RESTORE TABLE {database}.{table} FROM {offsets}");
        }

        var checkpoints = clickHouse.QueryText($"SELECT count() FROM {database}.{table} FINAL").Trim();
        await output.WriteLineAsync($"streamengine restore: database {database} ({manifest.Tables.Count} tables and views, {checkpoints} partition checkpoints, " +
                                    $"backed up {manifest.CreatedAt:u}) into {path}; jobs resume from its offsets");
        return 0;
    }

    /// <summary>The store's folder and database; only the embedded store is backed up by this command.</summary>
    private static (EngineSettings Settings, string Path, string Database) EmbeddedStore(string command, string? configFile, IReadOnlyList<string> set)
    {
        var settings = EngineSettings.Load(set, configFile: configFile);
        if (settings["clickhouse.mode"] != "embedded")
        {
            throw new UsageException($"{command}: works on the embedded store; a ClickHouse server is backed up with its own BACKUP and RESTORE statements (docs/operations.md)");
        }

        return (settings, Path.GetFullPath(settings["clickhouse.path"]), settings["clickhouse.database"]);
    }

    /// <summary>Opens the store with <paramref name="backupFolder"/> allowed as a backup destination.</summary>
    private static EmbeddedClickHouse Open(string path, string backupFolder)
    {
        try
        {
            return EmbeddedClickHouse.Connect(new EmbeddedClickHouseOptions
            {
                Path = path,
                Settings = new Dictionary<string, string> { ["backups.allowed_path"] = backupFolder },
            });
        }
        catch (ClickHouseException e)
        {
            throw new UsageException($"the store at '{path}' cannot be opened (is an engine or the demo still running on it? stop it first): {e.Message}");
        }
    }

    private static List<string> Tables(EmbeddedClickHouse clickHouse, string database) =>
        [.. clickHouse.QueryText($"SELECT name FROM system.tables WHERE database = {ClickHouseSql.Literal(database)} ORDER BY name").Split('\n', StringSplitOptions.RemoveEmptyEntries)];

    private static readonly JsonSerializerOptions ManifestJson = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>What a backup holds, written next to it.</summary>
    private sealed record Manifest(int Format, string Database, DateTimeOffset CreatedAt, IReadOnlyList<string> Tables, long CheckpointRows);
}
