using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace StreamEngine.Host.Observability;

/// <summary>How log lines are written (<c>log.format</c>).</summary>
public enum LogFormat
{
    /// <summary>JSON when standard error is not a terminal (a file, a pipe, a container's log), text on a terminal.</summary>
    Auto,

    /// <summary>One JSON object per line (Microsoft.Extensions.Logging's JSON console formatter): Timestamp, LogLevel, Category (the job), Message, State with job, correlation_id, trace_id.</summary>
    Json,

    /// <summary>Readable lines (its simple console formatter): time, level, job, message, correlation id.</summary>
    Text,
}

/// <summary>
/// The engine's log: leveled lines with the job and, for a batch's lines, its correlation id (the id also on its
/// ClickHouse inserts, spans and live messages) and the current trace id. Lines are written by
/// Microsoft.Extensions.Logging's own console formatters (JSON, or simple single lines), synchronously to the
/// writer given (standard error in a run), so nothing queued is lost when the process exits. Values of secret
/// settings are masked in every line, whatever a message quotes (an error echoing a connection string, say): that
/// masking, and the job and correlation id on every line, are why this wraps the formatters instead of being the console
/// provider itself (whose queue also drops what is pending when a process exits at once).
/// </summary>
public sealed class EngineLog : ILogger
{
    private readonly Action<string> _write;
    private readonly bool _json;
    private readonly LogLevel _minimum;
    private readonly string[] _secrets;
    private readonly string? _job;

    private EngineLog(Action<string> write, bool json, LogLevel minimum, string[] secrets, string? job)
    {
        (_write, _json, _minimum, _secrets, _job) = (write, json, minimum, secrets, job);
    }

    /// <summary>Lines to standard error; <see cref="LogFormat.Auto"/> writes JSON unless standard error is a terminal.</summary>
    public static EngineLog ToStandardError(LogFormat format, LogLevel minimum, IEnumerable<string> secrets) =>
        Create(line => Console.Error.WriteLine(line), format == LogFormat.Json || format == LogFormat.Auto && Console.IsErrorRedirected, minimum, secrets);

    /// <summary>Lines (JSON or text) from <paramref name="minimum"/> up to <paramref name="write"/>, with the values of <paramref name="secrets"/> masked.</summary>
    public static EngineLog Create(Action<string> write, bool json, LogLevel minimum, IEnumerable<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(write);
        ArgumentNullException.ThrowIfNull(secrets);
        // Short values would mask ordinary words; the settings that hold secrets ask for longer ones (http.api_key: 16).
        return new EngineLog(write, json, minimum, [.. secrets.Where(s => s.Length >= 4).Distinct(StringComparer.Ordinal).OrderByDescending(s => s.Length)], null);
    }

    /// <summary>Messages alone (no time or level) to <paramref name="write"/>, information and above: for summaries and tests.</summary>
    public static EngineLog To(Action<string> write) => new(write, json: false, LogLevel.Information, [], null) { Plain = true };

    /// <summary>Nothing is written.</summary>
    public static EngineLog None { get; } = new(_ => { }, json: false, LogLevel.None, [], null);

    private bool Plain { get; init; }

    /// <summary>The same log with every line naming <paramref name="job"/>.</summary>
    public EngineLog ForJob(string job) => new(_write, _json, _minimum, _secrets, job) { Plain = Plain };

    public bool IsEnabled(LogLevel logLevel) => logLevel >= _minimum && logLevel != LogLevel.None;

    public void Info(string message) => Write(LogLevel.Information, message);

    /// <summary>Scopes are not kept: the job and correlation id are fields of each line.</summary>
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    /// <summary>
    /// Structured lines from the runtime (<c>ILogger</c>): the formatted message, and a <c>CorrelationId</c> value, if the
    /// message has one, as the line's correlation id.
    /// </summary>
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (!IsEnabled(logLevel))
        {
            return;
        }

        string? correlationId = null;
        if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
        {
            correlationId = values.FirstOrDefault(v => v.Key == "CorrelationId").Value?.ToString();
        }

        var message = formatter(state, exception);
        Write(logLevel, exception is null ? message : $"{message}: {exception.Message}", correlationId);
    }

    public void Warn(string message, string? correlationId = null) => Write(LogLevel.Warning, message, correlationId);

    public void Debug(string message, string? correlationId = null) => Write(LogLevel.Debug, message, correlationId);

    public void Write(LogLevel level, string message, string? correlationId = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!IsEnabled(level))
        {
            return;
        }

        message = Mask(message);
        if (Plain)
        {
            _write(message);
            return;
        }

        var line = new LogLine(_json || correlationId is null ? message : $"{message} [{correlationId}]", _job, correlationId, Activity.Current?.TraceId.ToHexString());
        using var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        (_json ? Formatters.Json : Formatters.Text).Write(new LogEntry<LogLine>(level, _job ?? "streamengine", default, line, null, static (l, _) => l.Message), null, text);
        _write(text.ToString().TrimEnd('\r', '\n'));
    }

    private string Mask(string message)
    {
        foreach (var secret in _secrets)
        {
            message = message.Replace(secret, "****", StringComparison.Ordinal);
        }

        return message;
    }

    /// <summary>A line's state: what the JSON formatter writes under State, beside the message.</summary>
    private sealed class LogLine(string message, string? job, string? correlationId, string? traceId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private readonly KeyValuePair<string, object?>[] _fields =
        [
            .. new (string Name, string? Value)[] { ("job", job), ("correlation_id", correlationId), ("trace_id", traceId) }
                .Where(f => f.Value is not null).Select(f => KeyValuePair.Create(f.Name, (object?)f.Value)),
        ];

        public string Message => message;

        public int Count => _fields.Length;

        public KeyValuePair<string, object?> this[int index] => _fields[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_fields).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => message;
    }

    /// <summary>
    /// The console formatters Microsoft.Extensions.Logging registers (they are its own, not copies), configured once:
    /// UTC timestamps; JSON as one line per entry; text as single lines with the time.
    /// </summary>
    private static class Formatters
    {
        private static readonly ServiceProvider Services = new ServiceCollection()
            .AddLogging(logging => logging
                .AddJsonConsole(o =>
                {
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
                })
                .AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "HH:mm:ss.fff ";
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                }))
            .BuildServiceProvider();

        public static ConsoleFormatter Json { get; } = Named(ConsoleFormatterNames.Json);

        public static ConsoleFormatter Text { get; } = Named(ConsoleFormatterNames.Simple);

        private static ConsoleFormatter Named(string name) => Services.GetServices<ConsoleFormatter>().Single(f => f.Name == name);
    }
}
