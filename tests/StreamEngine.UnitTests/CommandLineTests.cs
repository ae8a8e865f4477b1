using System.CommandLine;
using System.CommandLine.Help;
using StreamEngine.Host;

namespace StreamEngine.UnitTests;

/// <summary>The command line on System.CommandLine: help everywhere, typed values, and mistakes named in the engine's words.</summary>
public sealed class CommandLineTests
{
    public static TheoryData<string> Commands => new(AllCommands(Program.CreateRootCommand()).Select(c => string.Join(' ', c)));

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_command_answers_help_with_each_of_its_options(string command)
    {
        var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var root = Program.CreateRootCommand();
        var parse = root.Parse([.. words, "--help"]);
        using var output = new StringWriter();

        Assert.Null(Program.UsageError(parse));
        Assert.IsType<HelpAction>(parse.Action);
        Assert.Equal(0, parse.Invoke(new InvocationConfiguration { Output = output }));
        var help = output.ToString();
        foreach (var option in parse.CommandResult.Command.Options.Where(o => o.Name != "--help"))
        {
            Assert.Contains(option.Name, help, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Values_arrive_typed_and_repeatable_options_keep_their_order()
    {
        var parse = Program.CreateRootCommand().Parse(["run", "--job", "ad-metrics", "--set", "a=1", "--set=b=2", "--until-idle", "5"]);

        Assert.Null(Program.UsageError(parse));
        Assert.Equal("ad-metrics", parse.GetValue<string?>("--job"));
        Assert.Equal(["a=1", "b=2"], parse.GetValue<string[]>("--set") ?? []);
        Assert.Equal(5, parse.GetValue<int?>("--until-idle"));
        Assert.Equal(3, Program.CreateRootCommand().Parse(["kafka", "serve"]).GetValue<int>("--brokers"));
        Assert.Equal("--not-an-option", Program.CreateRootCommand().Parse(["query", "--format", "TSV", "--", "--not-an-option"]).GetValue<string?>("SQL"));
    }

    [Theory]
    [InlineData(new[] { "run", "--bogus", "1" }, "run: unknown option --bogus (allowed: --assembly, --config, --job, --set, --until-idle)")]
    [InlineData(new[] { "kafka", "serve", "--brokers", "0" }, "kafka serve: --brokers must be a whole number from 1 to 64, not '0'")]
    [InlineData(new[] { "kafka", "serve", "--brokers", "three" }, "kafka serve: --brokers must be a whole number from 1 to 64, not 'three'")]
    [InlineData(new[] { "generate", "--late", "0.9" }, "generate: --late must be a fraction from 0 to 0.5, not '0.9'")]
    [InlineData(new[] { "jobs", "show" }, "jobs: unknown subcommand 'show' (the subcommand is 'list')")]
    [InlineData(new[] { "nope" }, "unknown command 'nope' (run `streamengine help`)")]
    [InlineData(new[] { "query", "a", "b" }, "query: unexpected argument 'b'")]
    [InlineData(new[] { "run", "--until-idle" }, "run: Required argument missing for option: '--until-idle'.")]
    [InlineData(new[] { "run", "--job", "x", "--set" }, "run: Required argument missing for option: '--set'.")]
    public void Mistakes_name_the_command_and_what_is_allowed(string[] args, string expected) =>
        Assert.Equal(expected, Program.UsageError(Program.CreateRootCommand().Parse(args)));

    [Fact]
    public void Help_for_a_command_is_also_help_COMMAND_and_an_at_sign_is_no_response_file()
    {
        var help = Program.Parse(["help", "run"]);
        var at = Program.Parse(["run", "--job", "@not-a-file"]);

        Assert.IsType<HelpAction>(help.Action);
        Assert.Equal("run", help.CommandResult.Command.Name);
        Assert.Null(Program.UsageError(at));
        Assert.Equal("@not-a-file", at.GetValue<string?>("--job"));
        Assert.IsType<HelpAction>(Program.Parse([]).Action);
    }

    private static IEnumerable<string[]> AllCommands(Command command, string[]? path = null)
    {
        foreach (var sub in command.Subcommands)
        {
            string[] here = [.. path ?? [], sub.Name];
            yield return here;
            foreach (var deeper in AllCommands(sub, here))
            {
                yield return deeper;
            }
        }
    }
}
