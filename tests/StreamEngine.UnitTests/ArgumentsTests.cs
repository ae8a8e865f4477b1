using StreamEngine.Host.Cli;

namespace StreamEngine.UnitTests;

public sealed class ArgumentsTests
{
    [Fact]
    public void Options_take_values_in_both_spellings_and_repeat_in_order()
    {
        var parsed = Arguments.Parse("cmd", ["--topic", "a:1", "--topic=b:2", "word", "--brokers=5"], "topic", "brokers");

        Assert.Equal(["a:1", "b:2"], parsed.All("topic"));
        Assert.Equal(5, parsed.WholeNumber("brokers", 3, 1, 64));
        Assert.Equal(["word"], parsed.Positionals);
    }

    [Fact]
    public void Everything_after_a_double_dash_is_positional()
    {
        var parsed = Arguments.Parse("query", ["--format", "TSV", "--", "--not-an-option"], "format");

        Assert.Equal(["--not-an-option"], parsed.Positionals);
    }

    [Fact]
    public void An_absent_number_takes_its_default()
    {
        Assert.Equal(3, Arguments.Parse("cmd", [], "brokers").WholeNumber("brokers", 3, 1, 64));
    }

    [Theory]
    [InlineData(new[] { "--bogus", "1" }, "cmd: unknown option --bogus (allowed: --brokers, --topic)")]
    [InlineData(new[] { "--brokers" }, "cmd: --brokers needs a value")]
    [InlineData(new[] { "--brokers", "0" }, "cmd: --brokers must be a whole number from 1 to 64, not '0'")]
    [InlineData(new[] { "--brokers", "three" }, "cmd: --brokers must be a whole number from 1 to 64, not 'three'")]
    [InlineData(new[] { "--brokers", "2", "--brokers", "3" }, "cmd: --brokers is given 2 times; give it once")]
    public void Mistakes_are_reported_naming_the_option(string[] args, string message)
    {
        var error = Assert.Throws<UsageException>(() => Arguments.Parse("cmd", args, "brokers", "topic").WholeNumber("brokers", 3, 1, 64));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Too_many_or_too_few_positionals_are_reported()
    {
        Assert.Equal("query: missing the SQL", Assert.Throws<UsageException>(() => Arguments.Parse("query", []).ExpectPositionals(1, 1, "the SQL")).Message);
        Assert.Equal("query: unexpected argument 'b'", Assert.Throws<UsageException>(() => Arguments.Parse("query", ["a", "b"]).ExpectPositionals(1, 1, "the SQL")).Message);
    }
}
