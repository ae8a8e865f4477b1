using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Time.Testing;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Host.Live;

namespace StreamEngine.UnitTests;

/// <summary>
/// The hub's per-connection delivery with a client that never takes anything: the others keep receiving every
/// update on time, the pipeline's <see cref="HubFanout.Offer"/> never waits, and the stuck client is disconnected.
/// </summary>
public sealed class HubFanoutTests
{
    [Fact]
    public async Task A_stuck_client_neither_slows_the_others_nor_the_offers_and_is_disconnected()
    {
        var clients = new FakeClients();
        var time = new FakeTimeProvider();
        var fanout = new HubFanout(new FakeHubContext(clients), new HubFanoutOptions { SendTimeout = TimeSpan.FromHours(1), Time = time });
        var stuck = new FakeCaller("stuck");
        var healthy = new FakeCaller("healthy");
        clients.Stuck.Add("stuck");
        foreach (var caller in new[] { stuck, healthy })
        {
            fanout.Connect(caller);
            fanout.Subscribe(caller, new LiveKey(AdLiveTopics.Campaign, "cmp-1"));
        }

        // Offers return at once (they only write into mailboxes), whatever the stuck client does.
        for (var minute = 0; minute < 8; minute++)
        {
            fanout.Offer(new LiveUpdate(AdLiveTopics.CampaignMetrics, "cmp-1", minute * 60_000L, """{"campaign":"cmp-1","impressions":1}"""u8.ToArray()));
        }

        // The healthy client gets every minute's value (one per window: nothing conflates across windows) while the
        // stuck one still hangs in its first send: no time has passed on the fanout's clock.
        await Until(() => clients.Delivered.Count(d => d == "healthy") == 8 && clients.Hanging.Contains("stuck"));
        Assert.Equal(8, clients.Delivered.Count(d => d == "healthy"));
        Assert.False(stuck.Aborted, "disconnected before its send timeout was up");

        // An hour on the fanout's clock, none on the wall's: only a timeout that runs on the given clock can fire.
        time.Advance(TimeSpan.FromHours(1) - TimeSpan.FromMilliseconds(1));
        Assert.False(stuck.Aborted, "disconnected before its send timeout was up");
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Until(() => stuck.Aborted);
        Assert.True(stuck.Aborted, "the client that takes nothing is disconnected once its send timeout is up");
        Assert.False(healthy.Aborted);
        Assert.True(fanout.Counters.Disconnected == 1, $"{fanout.Counters}");
    }

    [Fact]
    public async Task Partials_of_one_window_from_different_partitions_are_all_delivered_and_all_replayed_to_a_new_subscriber()
    {
        var clients = new FakeClients();
        var fanout = new HubFanout(new FakeHubContext(clients));
        var early = new FakeCaller("early");
        fanout.Connect(early);
        fanout.Subscribe(early, new LiveKey(AdLiveTopics.Campaign, "cmp-1"));

        // Three partitions' partials of the same minute, offered faster than any send: none may replace another.
        foreach (var partition in new[] { 0, 1, 2 })
        {
            fanout.Offer(new LiveUpdate(AdLiveTopics.CampaignMetrics, "cmp-1", 60_000, Encoding.UTF8.GetBytes($$"""{"campaign":"cmp-1","partition":{{partition}},"impressions":{{partition + 1}}}""")) { Partition = partition });
        }

        // Partition 1 moves on within the minute: its newer partial replaces its older one, and only that.
        fanout.Offer(new LiveUpdate(AdLiveTopics.CampaignMetrics, "cmp-1", 60_000, """{"campaign":"cmp-1","partition":1,"impressions":20}"""u8.ToArray()) { Partition = 1 });
        var late = new FakeCaller("late");
        fanout.Connect(late);
        fanout.Subscribe(late, new LiveKey(AdLiveTopics.Campaign, "cmp-1"));

        // What each client makes of the minute: the newest value per partition, added up.
        long Total(string connection) => clients.Received.Where(r => r.Connection == connection)
            .GroupBy(r => (long)r.Payload["partition"]!).Sum(g => (long)g.Last().Payload["impressions"]!);
        await Until(() => Total("early") == 1 + 20 + 3 && Total("late") == 1 + 20 + 3);
        Assert.Equal(24, Total("early"));
        Assert.Equal(24, Total("late"));
        Assert.Equal(3, clients.Received.Where(r => r.Connection == "late").Count());
    }

    [Fact]
    public async Task A_value_offered_while_the_sender_takes_the_one_it_replaces_is_still_sent()
    {
        // Each partition's newer partial arrives while the sender is busy draining the older ones: whichever way the
        // two race (replaced while waiting, or added after the sender took the old one), the newest is delivered.
        var clients = new FakeClients();
        var fanout = new HubFanout(new FakeHubContext(clients));
        var caller = new FakeCaller("one");
        fanout.Connect(caller);
        fanout.Subscribe(caller, new LiveKey(AdLiveTopics.Campaign, "cmp-1"));
        const int Partitions = 400;
        for (var round = 1; round <= 3; round++)
        {
            foreach (var partition in Enumerable.Range(0, Partitions))
            {
                fanout.Offer(new LiveUpdate(AdLiveTopics.CampaignMetrics, "cmp-1", 60_000, Encoding.UTF8.GetBytes($$"""{"partition":{{partition}},"impressions":{{round}}}""")) { Partition = partition });
            }

            await Task.Yield();
        }

        IReadOnlyList<long> Newest() => [.. clients.Received.Where(r => r.Connection == "one").GroupBy(r => (long)r.Payload["partition"]!).Select(g => (long)g.Last().Payload["impressions"]!)];
        await Until(() => Newest() is { Count: Partitions } newest && newest.All(v => v == 3));
        Assert.Equal(Enumerable.Repeat(3L, Partitions), Newest());
    }

    /// <summary>Waits for a state the fanout's own threads reach; the wall-clock limit only stops a test that would hang.</summary>
    private static async Task Until(Func<bool> reached)
    {
        var limit = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!reached() && DateTime.UtcNow < limit)
        {
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Values_go_to_their_topics_audience_and_the_catalog_ranks_keys_by_the_values_volume()
    {
        var clients = new FakeClients();
        var fanout = new HubFanout(new FakeHubContext(clients));
        var campaignWatcher = new FakeCaller("campaign-watcher");
        var slotWatcher = new FakeCaller("slot-watcher");
        fanout.Connect(campaignWatcher);
        fanout.Connect(slotWatcher);
        // The same id in both audiences: only the topic's audience decides who gets a value.
        fanout.Subscribe(campaignWatcher, new LiveKey(AdLiveTopics.Campaign, "x"));
        fanout.Subscribe(slotWatcher, new LiveKey(AdLiveTopics.Slot, "x"));

        // A topic whose subject says nothing about its audience, and a payload without the ranked field.
        var renamed = new LiveTopic("elsewhere.values", AdLiveTopics.Campaign) { Catalogued = true };
        fanout.Offer(new LiveUpdate(renamed, "x", 60_000, """{"n":1}"""u8.ToArray()) { Volume = 5 });
        fanout.Offer(new LiveUpdate(renamed, "y", 60_000, """{"n":2}"""u8.ToArray()) { Volume = 9 });
        fanout.Offer(new LiveUpdate(AdLiveTopics.Floors, "x", 60_000, """{"floor":3}"""u8.ToArray()) { Volume = 1_000 });

        // Last, a later window to each audience: a connection sends its values in window order, so once its last one
        // arrived, everything offered to it before has arrived too.
        fanout.Offer(new LiveUpdate(renamed, "x", 120_000, """{"n":"end"}"""u8.ToArray()) { Volume = 7 });
        fanout.Offer(new LiveUpdate(AdLiveTopics.Floors, "x", 120_000, """{"floor":"end"}"""u8.ToArray()));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (clients.Received.Count(r => r.Payload.ContainsValue("end")) < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        string Seen(string connection) => string.Join(' ', clients.Received.Where(r => r.Connection == connection).Select(r => string.Join(',', r.Payload.Select(p => $"{p.Key}={p.Value}"))));
        Assert.Equal("n=1 n=end", Seen("campaign-watcher"));
        Assert.Equal("floor=3 floor=end", Seen("slot-watcher"));
        var (campaigns, slots) = fanout.Catalog(top: 10);
        Assert.Equal([("y", 9L), ("x", 7L)], campaigns); // a key's newest window counts
        Assert.Empty(slots); // floors are not catalogued: a busy floor does not rank a slot
    }

    private sealed class FakeClients : IHubClients
    {
        public ConcurrentBag<string> Stuck { get; } = [];

        /// <summary>Connections whose send has started and hangs (its timeout is running).</summary>
        public ConcurrentQueue<string> Hanging { get; } = new();

        public ConcurrentQueue<string> Delivered { get; } = new();

        public ConcurrentQueue<(string Connection, Dictionary<string, object?> Payload)> Received { get; } = new();

        public IClientProxy Client(string connectionId) => new Proxy(this, connectionId);

        public IClientProxy All => throw new NotSupportedException();

        public IClientProxy AllExcept(IReadOnlyList<string> excludedConnectionIds) => throw new NotSupportedException();

        public IClientProxy Clients(IReadOnlyList<string> connectionIds) => throw new NotSupportedException();

        public IClientProxy Group(string groupName) => throw new NotSupportedException();

        public IClientProxy GroupExcept(string groupName, IReadOnlyList<string> excludedConnectionIds) => throw new NotSupportedException();

        public IClientProxy Groups(IReadOnlyList<string> groupNames) => throw new NotSupportedException();

        public IClientProxy User(string userId) => throw new NotSupportedException();

        public IClientProxy Users(IReadOnlyList<string> userIds) => throw new NotSupportedException();

        private sealed class Proxy(FakeClients owner, string connectionId) : IClientProxy
        {
            public async Task SendCoreAsync(string method, object?[] args, CancellationToken cancellationToken = default)
            {
                if (owner.Stuck.Contains(connectionId))
                {
                    owner.Hanging.Enqueue(connectionId);
                    await Task.Delay(Timeout.Infinite, cancellationToken); // a client whose buffers are full
                }

                owner.Delivered.Enqueue(connectionId);
                owner.Received.Enqueue((connectionId, (Dictionary<string, object?>)args[0]!));
            }
        }
    }

    private sealed class FakeHubContext(IHubClients clients) : IHubContext<MetricsHub>
    {
        public IHubClients Clients { get; } = clients;

        public IGroupManager Groups => throw new NotSupportedException();
    }

    private sealed class FakeCaller(string id) : HubCallerContext
    {
        public bool Aborted { get; private set; }

        public override string ConnectionId { get; } = id;

        public override string? UserIdentifier => null;

        public override ClaimsPrincipal? User => null;

        public override IDictionary<object, object?> Items { get; } = new Dictionary<object, object?>();

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override CancellationToken ConnectionAborted => CancellationToken.None;

        public override void Abort() => Aborted = true;
    }
}
