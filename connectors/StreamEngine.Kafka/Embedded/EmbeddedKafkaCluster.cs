using System.Runtime.InteropServices;
using System.Text;

namespace StreamEngine.Kafka.Embedded;

/// <summary>
/// A Kafka cluster inside this process: librdkafka's mock cluster, listening on real loopback TCP ports, so any
/// Kafka client in any process can use it. Memory only; each partition keeps at most about 5 MiB (older batches
/// are dropped), so size test topics with enough partitions.
/// </summary>
/// <remarks>
/// Facts that shaped this class (see DESIGN.md): topics must be created here (no CreateTopics admin API);
/// the controller id must be set or some clients fail; KIP-848 consumer groups (<c>group.protocol=consumer</c>)
/// rebalance in a second or two, the classic protocol does not; transactions are not enforced.
/// </remarks>
public sealed class EmbeddedKafkaCluster : IDisposable
{
    private const int ErrorBufferSize = 512;
    private readonly object _gate = new();
    private readonly Dictionary<string, int> _topics = new(StringComparer.Ordinal);
    private readonly List<LoopbackForwarder> _forwarders = [];
    private IntPtr _handle;
    private IntPtr _cluster;

    private EmbeddedKafkaCluster(EmbeddedKafkaOptions options)
    {
        Options = options;
    }

    public EmbeddedKafkaOptions Options { get; }

    /// <summary>The <c>bootstrap.servers</c> string clients use.</summary>
    public string BootstrapServers { get; private set; } = "";

    /// <summary>Broker ids, 1..N.</summary>
    public IReadOnlyList<int> BrokerIds => Enumerable.Range(1, Options.Brokers).ToArray();

    /// <summary>Topics created so far, with their partition counts.</summary>
    public IReadOnlyDictionary<string, int> Topics
    {
        get
        {
            lock (_gate)
            {
                return new Dictionary<string, int>(_topics, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Starts a cluster; dispose it to stop.</summary>
    public static EmbeddedKafkaCluster Start(EmbeddedKafkaOptions? options = null)
    {
        options ??= new EmbeddedKafkaOptions();
        options.Validate();
        Librdkafka.EnsureLoaded();
        var cluster = new EmbeddedKafkaCluster(options);
        try
        {
            cluster.StartNative();
            foreach (var topic in options.Topics)
            {
                cluster.CreateTopic(topic.Name, topic.Partitions);
            }

            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Creates a topic; creating one that exists with the same partition count does nothing.</summary>
    public void CreateTopic(string name, int partitions)
    {
        var spec = new TopicSpec(name, partitions);
        lock (_gate)
        {
            ThrowIfDisposed();
            if (_topics.TryGetValue(spec.Name, out var existing))
            {
                if (existing != spec.Partitions)
                {
                    throw new InvalidOperationException($"topic '{spec.Name}' exists with {existing} partitions, not {spec.Partitions}");
                }

                return;
            }

            Check(MockClusterNative.rd_kafka_mock_topic_create(_cluster, spec.Name, spec.Partitions, Math.Min(3, Options.Brokers)), $"create topic '{spec.Name}'");
            _topics.Add(spec.Name, spec.Partitions);
        }
    }

    /// <summary>Disconnects the broker and refuses connections until <see cref="SetBrokerUp"/>. Leaders do not move.</summary>
    public void SetBrokerDown(int brokerId)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            CheckBroker(brokerId);
            Check(MockClusterNative.rd_kafka_mock_broker_set_down(_cluster, brokerId), $"take broker {brokerId} down");
            if (_forwarders.Count > 0)
            {
                _forwarders[brokerId - 1].Pause();
            }
        }
    }

    /// <summary>Makes a broker taken down accept connections again.</summary>
    public void SetBrokerUp(int brokerId)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            CheckBroker(brokerId);
            Check(MockClusterNative.rd_kafka_mock_broker_set_up(_cluster, brokerId), $"bring broker {brokerId} up");
            if (_forwarders.Count > 0)
            {
                _forwarders[brokerId - 1].Resume();
            }
        }
    }

    /// <summary>Adds latency to every response of a broker.</summary>
    public void SetBrokerRoundTripTime(int brokerId, TimeSpan delay)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            CheckBroker(brokerId);
            Check(MockClusterNative.rd_kafka_mock_broker_set_rtt(_cluster, brokerId, (int)delay.TotalMilliseconds), $"set the round-trip time of broker {brokerId}");
        }
    }

    /// <summary>Moves a partition's leadership to another broker (or -1 for no leader).</summary>
    public void SetPartitionLeader(string topic, int partition, int brokerId)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            if (brokerId != -1)
            {
                CheckBroker(brokerId);
            }

            Check(MockClusterNative.rd_kafka_mock_partition_set_leader(_cluster, topic, partition, brokerId), $"move the leader of {topic}[{partition}] to broker {brokerId}");
        }
    }

    /// <summary>Makes the next requests of a type fail, in order, with the given errors (one request per error).</summary>
    public void PushRequestErrors(KafkaApiKey apiKey, params Confluent.Kafka.ErrorCode[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        lock (_gate)
        {
            ThrowIfDisposed();
            var codes = errors.Select(e => (int)e).ToArray();
            MockClusterNative.rd_kafka_mock_push_request_errors_array(_cluster, (short)apiKey, (nuint)codes.Length, codes);
        }
    }

    /// <summary>Forgets request errors pushed for a request type that have not fired yet.</summary>
    public void ClearRequestErrors(KafkaApiKey apiKey)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            MockClusterNative.rd_kafka_mock_clear_request_errors(_cluster, (short)apiKey);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var forwarder in _forwarders)
            {
                forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            _forwarders.Clear();
            if (_cluster != IntPtr.Zero)
            {
                MockClusterNative.rd_kafka_mock_cluster_destroy(_cluster);
                _cluster = IntPtr.Zero;
            }

            if (_handle != IntPtr.Zero)
            {
                MockClusterNative.rd_kafka_destroy(_handle);
                _handle = IntPtr.Zero;
            }
        }
    }

    private void StartNative()
    {
        var conf = MockClusterNative.rd_kafka_conf_new();
        var error = new byte[ErrorBufferSize];
        // The handle only carries the cluster's book-keeping; keep its own logging to warnings and worse.
        SetConf(conf, "log_level", "4", error);
        SetConf(conf, "client.id", "streamengine-embedded-kafka", error);
        _handle = MockClusterNative.rd_kafka_new(MockClusterNative.ProducerType, conf, error, ErrorBufferSize);
        if (_handle == IntPtr.Zero)
        {
            MockClusterNative.rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException($"librdkafka could not create the handle for the embedded cluster: {ErrorString(error)}");
        }

        _cluster = MockClusterNative.rd_kafka_mock_cluster_new(_handle, Options.Brokers);
        if (_cluster == IntPtr.Zero)
        {
            throw new InvalidOperationException("librdkafka could not start the embedded cluster (rd_kafka_mock_cluster_new returned nothing)");
        }

        MockClusterNative.rd_kafka_mock_set_controller_id(_cluster, 1);
        MockClusterNative.rd_kafka_mock_set_group_consumer_session_timeout_ms(_cluster, (int)Options.GroupSessionTimeout.TotalMilliseconds);
        MockClusterNative.rd_kafka_mock_set_group_consumer_heartbeat_interval_ms(_cluster, (int)Options.GroupHeartbeatInterval.TotalMilliseconds);

        var mockBootstrap = Marshal.PtrToStringUTF8(MockClusterNative.rd_kafka_mock_cluster_bootstraps(_cluster)) ?? "";
        if (Options.FirstPort is not { } firstPort)
        {
            BootstrapServers = mockBootstrap;
            return;
        }

        var mockPorts = mockBootstrap.Split(',').Select(address => int.Parse(address[(address.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        for (var broker = 1; broker <= Options.Brokers; broker++)
        {
            var forwarder = new LoopbackForwarder(firstPort + broker - 1, mockPorts[broker - 1]);
            _forwarders.Add(forwarder);
            MockClusterNative.rd_kafka_mock_broker_set_host_port(_cluster, broker, "127.0.0.1", forwarder.ListenPort);
        }

        BootstrapServers = string.Join(',', _forwarders.Select(f => $"127.0.0.1:{f.ListenPort}"));
    }

    private static void SetConf(IntPtr conf, string name, string value, byte[] error)
    {
        if (MockClusterNative.rd_kafka_conf_set(conf, name, value, error, ErrorBufferSize) != 0)
        {
            throw new InvalidOperationException($"librdkafka rejected {name}={value}: {ErrorString(error)}");
        }
    }

    private static string ErrorString(byte[] buffer)
    {
        var end = Array.IndexOf(buffer, (byte)0);
        return Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end);
    }

    private static void Check(int errorCode, string what)
    {
        if (errorCode != 0)
        {
            throw new InvalidOperationException($"embedded Kafka could not {what}: {MockClusterNative.ErrorText(errorCode)}");
        }
    }

    private void CheckBroker(int brokerId)
    {
        if (brokerId < 1 || brokerId > Options.Brokers)
        {
            throw new ArgumentOutOfRangeException(nameof(brokerId), brokerId, $"the cluster has brokers 1..{Options.Brokers}");
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_cluster == IntPtr.Zero, this);
}
