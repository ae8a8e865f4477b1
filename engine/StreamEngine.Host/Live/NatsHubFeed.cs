using System.Text.Json;
using NATS.Client.Core;
using StreamEngine.AdEvents;
using StreamEngine.Core.Dsl;
using StreamEngine.Nats;

namespace StreamEngine.Host.Live;

/// <summary>
/// Feeds the hub from NATS, so with several engines in one group every engine's hub (and dashboard) carries every
/// partition's live values, not only those of the partitions it holds: each engine publishes its own to NATS, and
/// each hub subscribes to all of them (<c>adtrack.metrics.*.&gt;</c>, <c>adtrack.pacing.&gt;</c>,
/// <c>adtrack.pricing.&gt;</c>, <c>adtrack.alerts.pacing</c>). The engine's own values also reach its hub directly,
/// so the hub keeps them while NATS is away; the same value twice conflates away in the hub's mailboxes. A message
/// that is not a live value of the contract (no key, no window) is counted and skipped.
/// </summary>
public sealed class NatsHubFeed : IAsyncDisposable
{
    private static readonly (string Subject, LiveTopic? Topic, string KeyField, string VolumeField)[] Feeds =
    [
        (AdLiveTopics.CampaignMetrics.SubjectPrefix + ".>", AdLiveTopics.CampaignMetrics, "campaign", "impressions"),
        (AdLiveTopics.SlotMetrics.SubjectPrefix + ".>", AdLiveTopics.SlotMetrics, "slot", "bids"),
        (AdLiveTopics.Pacing.SubjectPrefix + ".>", AdLiveTopics.Pacing, "campaign", ""),
        (AdLiveTopics.Floors.SubjectPrefix + ".>", AdLiveTopics.Floors, "slot", ""),
        (AdLiveTopics.PacingAlertSubject, null, "campaign", ""),
    ];

    private readonly NatsConnection _connection;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _loops;
    private long _received;
    private long _skipped;

    public NatsHubFeed(LivePublisherOptions options, ILiveSink hub)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(hub);
        _connection = new NatsConnection(NatsOpts.Default with
        {
            Url = options.Url,
            Name = "streamengine-hub",
            AuthOpts = NatsAuthOpts.Default with { Username = options.User, Password = options.Password, Token = options.Token, CredsFile = options.CredentialsFile },
        });
        _loops = [.. Feeds.Select(feed => Task.Run(() => FollowAsync(feed, hub, _stop.Token)))];
    }

    /// <summary>Live values taken from NATS, and messages skipped as not being live values.</summary>
    public (long Received, long Skipped) Counters => (Interlocked.Read(ref _received), Interlocked.Read(ref _skipped));

    private async Task FollowAsync((string Subject, LiveTopic? Topic, string KeyField, string VolumeField) feed, ILiveSink hub, CancellationToken stop)
    {
        // The client reconnects by itself; a subscription that ends (a closed connection) is made again.
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var message in _connection.SubscribeAsync<byte[]>(feed.Subject, cancellationToken: stop))
                {
                    if (message.Data is { } data && Parse(feed, data, message.Headers is { } headers && headers.TryGetValue(LivePublisher.CorrelationHeader, out var ids) ? ids.FirstOrDefault() : null) is { } value)
                    {
                        Interlocked.Increment(ref _received);
                        if (value.Update is { } update)
                        {
                            hub.Offer(update);
                        }
                        else
                        {
                            hub.Alert(message.Subject, value.Key, data);
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref _skipped);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (NatsException)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>The live value a message carries, or null when it is not one (malformed, no key or window).</summary>
    internal static (string Key, LiveUpdate? Update)? Parse((string Subject, LiveTopic? Topic, string KeyField, string VolumeField) feed, byte[] json, string? correlationId)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(feed.KeyField, out var key) || key.GetString() is not { Length: > 0 } id ||
                !root.TryGetProperty("window_start", out var window) || !window.TryGetDateTimeOffset(out var windowStart))
            {
                return null;
            }

            if (feed.Topic is null)
            {
                return (id, null);
            }

            var partition = root.TryGetProperty("partition", out var p) && p.TryGetInt32(out var n) ? n : -1;
            var volume = feed.VolumeField.Length > 0 && root.TryGetProperty(feed.VolumeField, out var v) && v.TryGetInt64(out var x) ? x : 0;
            return (id, new LiveUpdate(feed.Topic, id, windowStart.ToUnixTimeMilliseconds(), json) { Partition = partition, Volume = volume, CorrelationId = correlationId });
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops).ContinueWith(_ => { }, TaskScheduler.Default);
        await _connection.DisposeAsync();
        _stop.Dispose();
    }
}
