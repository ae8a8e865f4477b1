using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace StreamEngine.Host.Observability;

/// <summary>How log lines are written (<c>log.format</c>).</summary>
public enum LogFormat
{
    /// <summary>JSON when standard error is not a terminal (a file, a pipe, a container's log), text on a terminal.</summary>
    Auto,

    /// <summary>One JSON object per line: timestamp, level, message, job, correlation_id, trace_id.</summary>
    Json,

    /// <summary>Readable lines: time, level, job, correlation id, message.</summary>
    Text,
}

/// <summary>
/// The engine's log: leveled lines with the job and, for a batch's lines, its correlation id (the id also on its
/// ClickHouse inserts, spans and live messages) and the current trace id. Values of secret settings are masked in
/// every line, whatever a message quotes (an error echoing a connection string, say).
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

        var traceId = Activity.Current?.TraceId.ToHexString();
        var now = DateTimeOffset.UtcNow;
        if (_json)
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("timestamp", now);
                json.WriteString("level", Name(level));
                json.WriteString("message", message);
                WriteIfSet(json, "job", _job);
                WriteIfSet(json, "correlation_id", correlationId);
                WriteIfSet(json, "trace_id", traceId);
                json.WriteEndObject();
            }

            _write(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            return;
        }

        var line = new StringBuilder().Append(now.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)).Append(' ').Append(Name(level));
        if (_job is not null)
        {
            line.Append(' ').Append(_job);
        }

        if (correlationId is not null)
        {
            line.Append(" [").Append(correlationId).Append(']');
        }

        _write(line.Append(' ').Append(message).ToString());
    }

    private string Mask(string message)
    {
        foreach (var secret in _secrets)
        {
            message = message.Replace(secret, "****", StringComparison.Ordinal);
        }

        return message;
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static string Name(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "error",
        _ => "critical",
    };
}
