using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
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
        var fanout = new HubFanout(new FakeHubContext(clients), new HubFanoutOptions { SendTimeout = TimeSpan.FromMilliseconds(300) });
        var stuck = new FakeCaller("stuck");
        var healthy = new FakeCaller("healthy");
        clients.Stuck.Add("stuck");
        foreach (var caller in new[] { stuck, healthy })
        {
            fanout.Connect(caller);
            fanout.Subscribe(caller, LiveKey.Campaign("cmp-1"));
        }

        // Offers return at once (they only write into mailboxes), whatever the stuck client does.
        for (var minute = 0; minute < 8; minute++)
        {
            fanout.Offer(new LiveUpdate("adtrack.metrics.campaign.cmp-1", "cmp-1", minute * 60_000L, """{"campaign":"cmp-1","impressions":1}"""u8.ToArray()));
            await Task.Delay(100);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((clients.Delivered.Count(d => d == "healthy") < 8 || !stuck.Aborted) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        // The healthy client got every minute's value (one per offer: nothing to conflate at this pace).
        Assert.Equal(8, clients.Delivered.Count(d => d == "healthy"));
        Assert.True(stuck.Aborted, "the client that takes nothing is disconnected after the send timeout");
        Assert.False(healthy.Aborted);
        Assert.True(fanout.Counters.Disconnected == 1, $"{fanout.Counters}");
    }

    private sealed class FakeClients : IHubClients
    {
        public ConcurrentBag<string> Stuck { get; } = [];

        public ConcurrentQueue<string> Delivered { get; } = new();

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
                    await Task.Delay(Timeout.Infinite, cancellationToken); // a client whose buffers are full
                }

                owner.Delivered.Enqueue(connectionId);
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
