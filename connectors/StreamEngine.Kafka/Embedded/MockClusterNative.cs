using System.Runtime.InteropServices;

namespace StreamEngine.Kafka.Embedded;

/// <summary>
/// librdkafka's mock-cluster API (rdkafka_mock.h) and the few core calls needed to own the handle it lives on.
/// The mock API is experimental upstream; these declarations match librdkafka 2.16.0 as pinned centrally.
/// </summary>
internal static partial class MockClusterNative
{
    internal const int ProducerType = 0;

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial IntPtr rd_kafka_conf_new();

    [LibraryImport(Librdkafka.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_conf_set(IntPtr conf, string name, string value, byte[] errstr, nuint errstrSize);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_conf_destroy(IntPtr conf);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, nuint errstrSize);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_destroy(IntPtr rk);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial IntPtr rd_kafka_err2str(int err);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_mock_cluster_destroy(IntPtr cluster);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr cluster);

    [LibraryImport(Librdkafka.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_mock_topic_create(IntPtr cluster, string topic, int partitionCount, int replicationFactor);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial int rd_kafka_mock_broker_set_down(IntPtr cluster, int brokerId);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial int rd_kafka_mock_broker_set_up(IntPtr cluster, int brokerId);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial int rd_kafka_mock_broker_set_rtt(IntPtr cluster, int brokerId, int rttMs);

    [LibraryImport(Librdkafka.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void rd_kafka_mock_broker_set_host_port(IntPtr cluster, int brokerId, string host, int port);

    [LibraryImport(Librdkafka.LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_mock_partition_set_leader(IntPtr cluster, string topic, int partition, int brokerId);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_mock_push_request_errors_array(IntPtr cluster, short apiKey, nuint count, int[] errors);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_mock_clear_request_errors(IntPtr cluster, short apiKey);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_mock_set_controller_id(IntPtr cluster, int brokerId);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_mock_set_group_consumer_session_timeout_ms(IntPtr cluster, int timeoutMs);

    [LibraryImport(Librdkafka.LibraryName)]
    internal static partial void rd_kafka_mock_set_group_consumer_heartbeat_interval_ms(IntPtr cluster, int intervalMs);

    internal static string ErrorText(int err) => Marshal.PtrToStringUTF8(rd_kafka_err2str(err)) ?? $"error {err}";
}
