using StreamEngine.AdEvents.Pricing;

namespace StreamEngine.Jobs.ClickHouse;

/// <summary>How <c>dynamic-pricing</c> runs (the <c>pricing.*</c> and <c>pacing.*</c> configuration keys).</summary>
public sealed record DynamicPricingOptions
{
    /// <summary>The database of the results it reads and writes (<c>clickhouse.database</c>).</summary>
    public string Database { get; init; } = "ads";

    /// <summary>The cluster the schema is made on, or null for one server (see <see cref="StreamEngine.ClickHouse.Stores.ClickHouseCluster"/>).</summary>
    public StreamEngine.ClickHouse.Stores.ClickHouseCluster? Cluster { get; init; }

    /// <summary>The topic whose jobs' stored progress closes minutes (<c>kafka.topic</c>).</summary>
    public string Topic { get; init; } = "ad-events";

    /// <summary>The floor recommender's guardrails (<c>pricing.min_samples</c>, <c>pricing.max_step_change</c>, <c>pricing.smoothing</c>).</summary>
    public FloorPolicy Policy { get; init; } = new();

    /// <summary>Time between cycles (<c>pricing.interval</c>).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How far back before the stored progress a cycle recomputes (<c>pricing.lookback</c>).</summary>
    public TimeSpan Lookback { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// How long a slot-minute row may take, after its <c>written_at</c>, to become visible to a query (an insert in
    /// flight; on a cluster, a distributed insert still queued): rows written up to this long before a cycle's read
    /// count as new again in the next one, whose floors are recomputed from their minute on. Whatever comes later
    /// still, the whole look-back is recomputed every <see cref="DynamicPricingWork.WholeLookbackEvery"/>.
    /// </summary>
    public TimeSpan InputSettleTime { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Throws when a value is outside what the cycle can work with (the configuration keys have the same bounds).</summary>
    public void Validate()
    {
        Policy.Validate();
        if (Interval < TimeSpan.FromMilliseconds(100) || Lookback < TimeSpan.FromMinutes(2) || InputSettleTime < TimeSpan.Zero || Database.Length == 0 || Topic.Length == 0)
        {
            throw new ArgumentException($"dynamic-pricing needs an interval of at least 100 ms ({Interval}), a look-back of at least 2 min ({Lookback}), an input settle time of at least 0 ({InputSettleTime}), a database and a topic");
        }
    }

    /// <summary>A CSV of campaign budgets (campaign,daily_budget) loaded at start (<c>pacing.campaigns_file</c>), or null.</summary>
    public string? CampaignsFile { get; init; }
}
