using StreamEngine.TestUtilities;

namespace StreamEngine.IntegrationTests.ClickHouse;

/// <summary>chDB opens one data path per process: every in-process chDB test shares one store, one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class EmbeddedClickHouseCollection : ICollectionFixture<EmbeddedClickHouseFixture>
{
    public const string Name = "embedded ClickHouse";
}
