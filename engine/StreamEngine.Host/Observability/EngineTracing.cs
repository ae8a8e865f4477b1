using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using StreamEngine.Core.Telemetry;

namespace StreamEngine.Host.Observability;

/// <summary>
/// Trace export (<c>tracing.otlp_endpoint</c>): the engine's spans (a checkpoint per batch of results, linked to the
/// W3C trace contexts of the Kafka messages it read, with the batch's correlation id) go to an OpenTelemetry collector
/// over OTLP: gRPC, or HTTP/protobuf when the URL's path ends in <c>/v1/traces</c>. Unset: no spans are even created.
/// </summary>
public static class EngineTracing
{
    /// <summary>The tracer provider (dispose it to flush), or null when no endpoint is configured.</summary>
    public static TracerProvider? Start(Uri? endpoint, double sampleRatio, string serviceInstance)
    {
        if (endpoint is null)
        {
            return null;
        }

        var http = endpoint.AbsolutePath.EndsWith("/v1/traces", StringComparison.Ordinal);
        return Sdk.CreateTracerProviderBuilder()
            .AddSource(EngineTelemetry.Name)
            .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService("streamengine", serviceVersion: EngineTelemetry.Version, serviceInstanceId: serviceInstance))
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(sampleRatio)))
            .AddOtlpExporter(otlp =>
            {
                otlp.Endpoint = endpoint;
                otlp.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
            })
            .Build();
    }
}
