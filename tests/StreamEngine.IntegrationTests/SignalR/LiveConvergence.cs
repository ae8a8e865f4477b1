namespace StreamEngine.IntegrationTests.SignalR;

/// <summary>Live values against stored results, once the traffic is over: they must converge to equal.</summary>
internal static class LiveConvergence
{
    /// <summary>
    /// Compares the two readings every half second until they are equal or <paramref name="patience"/> is up, and asserts
    /// on the pair compared last: what converges, not a second reading taken later.
    /// </summary>
    public static async Task AssertConvergesAsync(Func<Task<string>> stored, Func<string> live, TimeSpan patience)
    {
        var converged = DateTime.UtcNow + patience;
        var (storedNow, liveNow) = (await stored(), live());
        while (storedNow != liveNow && DateTime.UtcNow < converged)
        {
            await Task.Delay(500);
            (storedNow, liveNow) = (await stored(), live());
        }

        Assert.Equal(storedNow, liveNow);
    }
}
