using System.Collections.Concurrent;
using Confluent.Kafka;

namespace StreamEngine.IntegrationTests.Kafka;

/// <summary>
/// A consumer polling on its own thread, committing what it read, recording messages and its current assignment;
/// the shape of the engine's source without the engine.
/// </summary>
internal sealed class ConsumerLoop : IDisposable
{
    private readonly IConsumer<string, string> _consumer;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private volatile int[] _assigned = [];
    private volatile bool _closeOnStop = true;

    public ConsumerLoop(ConsumerConfig config, string topic, string name)
    {
        Name = name;
        _consumer = new ConsumerBuilder<string, string>(config)
            .SetErrorHandler((_, e) => Errors.Add(e.Reason))
            .Build();
        _consumer.Subscribe(topic);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public string Name { get; }

    public ConcurrentQueue<(string Value, int Partition, long Offset)> Received { get; } = new();

    public ConcurrentBag<string> Errors { get; } = [];

    public IReadOnlyList<int> AssignedPartitions => _assigned;

    /// <summary>Leaves the group cleanly (the partitions move at once) and stops.</summary>
    public void Leave()
    {
        _closeOnStop = true;
        _stop.Cancel();
        _thread.Join();
    }

    public void Dispose()
    {
        if (!_stop.IsCancellationRequested)
        {
            Leave();
        }

        _consumer.Dispose();
        _stop.Dispose();
    }

    private void Run()
    {
        while (!_stop.IsCancellationRequested)
        {
            var result = _consumer.Consume(TimeSpan.FromMilliseconds(100));
            _assigned = _consumer.Assignment.Select(tp => tp.Partition.Value).Order().ToArray();
            if (result is null || result.IsPartitionEOF)
            {
                continue;
            }

            Received.Enqueue((result.Message.Value, result.Partition.Value, result.Offset.Value));
            try
            {
                _consumer.Commit(result);
            }
            catch (KafkaException e)
            {
                Errors.Add(e.Error.Reason);
            }
        }

        if (_closeOnStop)
        {
            _consumer.Close();
        }
    }
}
