using System.Globalization;

namespace StreamEngine.ClickHouse.Stores;

/// <summary>
/// Schema changes only with room to write them. ClickHouse (chDB 25.x seen here) rewrites a table's metadata file
/// for <c>ALTER ... MODIFY SETTING</c> and writes one for <c>CREATE</c>; on a full disk the statement still succeeds
/// and leaves the file empty, and the store then cannot be opened again ("Cannot parse definition from metadata
/// file"). So the engine asks the default disk's free space first and, below a margin, refuses with NOT_ENOUGH_SPACE:
/// a writer waits that out like a refused insert; a start that needs migrations stops with it.
/// </summary>
public static class SchemaChangeSafety
{
    /// <summary>Free bytes on ClickHouse's default disk (where metadata lives) below which no schema change is made.</summary>
    public const long MinimumFreeBytes = 16L << 20;

    /// <summary>Throws NOT_ENOUGH_SPACE (which writers wait out) when the default disk has less than <see cref="MinimumFreeBytes"/> free.</summary>
    public static async Task ThrowIfDiskNearlyFullAsync(IClickHouseStore store, string change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var answer = (await store.QueryAsync("SELECT free_space FROM system.disks WHERE name = 'default'", cancellationToken)).Trim();
        if (long.TryParse(answer, NumberStyles.None, CultureInfo.InvariantCulture, out var free) && free < MinimumFreeBytes)
        {
            throw new ClickHouseException(243, "NOT_ENOUGH_SPACE",
                $"{store.Description} has {free:N0} bytes free on its default disk; {change} waits for {MinimumFreeBytes >> 20} MiB " +
                "(a schema change on a full disk can leave the table's metadata file empty and the store unreadable). (NOT_ENOUGH_SPACE)");
        }
    }
}
