namespace StreamEngine.Jobs.Tests;

/// <summary>A clock that always says the same time, for the decoder's and generator's "now".</summary>
internal sealed class FixedClock(long nowMs) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
}
