using StreamEngine.ClickHouse;

namespace StreamEngine.UnitTests;

public sealed class ClickHouseExceptionTests
{
    [Fact]
    public void Code_and_name_come_from_ClickHouse_error_text()
    {
        var error = ClickHouseException.FromServerText("Code: 60. DB::Exception: Unknown table expression identifier 'x' in scope SELECT * FROM x. (UNKNOWN_TABLE)\n");

        Assert.Equal(60, error.Code);
        Assert.Equal("UNKNOWN_TABLE", error.ErrorName);
        Assert.StartsWith("Code: 60.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trailing_server_version_does_not_hide_the_name()
    {
        var error = ClickHouseException.FromServerText("Code: 81. DB::Exception: Database nope does not exist. (UNKNOWN_DATABASE) (version 26.7.2.1)");

        Assert.Equal(81, error.Code);
        Assert.Equal("UNKNOWN_DATABASE", error.ErrorName);
    }

    [Fact]
    public void Text_without_a_code_keeps_its_message()
    {
        var error = ClickHouseException.FromServerText("connection closed");

        Assert.Equal(0, error.Code);
        Assert.Null(error.ErrorName);
        Assert.Equal("connection closed", error.Message);
    }
}
