using StreamEngine.Core.Windowing;

namespace StreamEngine.Runtime.Ports;

/// <summary>
/// Where events too late for their window go (Kafka's late topic in production). Records are sent as they come;
/// <see cref="Flush"/> waits for every one to be delivered, and the checkpoint that covers them is stored only after.
/// </summary>
public interface ISideOutput<TEvent> : IDisposable
{
    /// <summary>Sends a late event; delivery is confirmed by the next flush.</summary>
    void Write(LateEvent<TEvent> late);

    /// <summary>Waits until everything written is delivered; throws <see cref="SideOutputDeliveryException"/> if some is not within <paramref name="timeout"/>.</summary>
    void Flush(TimeSpan timeout);
}

/// <summary>Side-output records (late events, dead letters) were not delivered: whatever they cover must not be checkpointed.</summary>
public sealed class SideOutputDeliveryException : Exception
{
    /// <summary>A delivery failure without details.</summary>
    public SideOutputDeliveryException()
    {
    }

    /// <summary>A delivery failure, with why.</summary>
    public SideOutputDeliveryException(string message)
        : base(message)
    {
    }

    /// <summary>A delivery failure, with why and the error underneath.</summary>
    public SideOutputDeliveryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
