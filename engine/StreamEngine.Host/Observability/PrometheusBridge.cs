using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Prometheus;

namespace StreamEngine.Host.Observability;

/// <summary>
/// Exports the instruments of one System.Diagnostics.Metrics meter through a prometheus-net registry, keeping
/// Prometheus' conventions: counters (<see cref="Counter{T}"/>, <see cref="ObservableCounter{T}"/>) become counters
/// named <c>NAME_total</c>, gauges and up-down counters gauges, histograms histograms; tags become labels.
/// Observable instruments are read when the registry is scraped. (prometheus-net's own meter adapter publishes
/// counters as gauges and prefixes the meter's name, which breaks the names dashboards and alerts rely on.)
/// </summary>
public sealed class PrometheusBridge : IDisposable
{
    private static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly MeterListener _listener = new();
    private readonly MetricFactory _factory;
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), object> _metrics = new();
    private volatile bool _disposed;

    // Observable instruments' series: those seen at the last collection and those seen now. A series not observed
    // again (a partition that moved to another process) is removed rather than left at its last value.
    private readonly object _collectGate = new();
    private Dictionary<(Prometheus.Collector Metric, string Values), string[]> _observedBefore = [];
    private Dictionary<(Prometheus.Collector Metric, string Values), string[]> _observedNow = [];

    public PrometheusBridge(string meterName, CollectorRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _factory = Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
        registry.AddBeforeCollectCallback(() =>
        {
            if (_disposed)
            {
                return;
            }

            lock (_collectGate)
            {
                _observedNow = [];
                _listener.RecordObservableInstruments();
                foreach (var (series, values) in _observedBefore)
                {
                    if (!_observedNow.ContainsKey(series) && series.Metric is Prometheus.Collector<Prometheus.Gauge.Child> or Prometheus.Collector<Prometheus.Counter.Child>)
                    {
                        Unpublish(series.Metric, values);
                    }
                }

                _observedBefore = _observedNow;
            }
        });
    }

    private static void Unpublish(Prometheus.Collector metric, string[] values)
    {
        switch (metric)
        {
            case Prometheus.Gauge gauge:
                gauge.RemoveLabelled(values);
                break;
            case Prometheus.Counter counter:
                counter.RemoveLabelled(values);
                break;
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var sorted = tags.ToArray().OrderBy(t => t.Key, StringComparer.Ordinal).ToArray();
        var names = sorted.Select(t => t.Key).ToArray();
        var values = sorted.Select(t => t.Value?.ToString() ?? "").ToArray();
        var help = string.IsNullOrEmpty(instrument.Description) ? instrument.Name : instrument.Description;
        var metric = _metrics.GetOrAdd((instrument, string.Join(',', names)), _ => instrument switch
        {
            Counter<long> or Counter<int> or Counter<double> or ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double> =>
                _factory.CreateCounter(instrument.Name + "_total", help, names),
            Histogram<long> or Histogram<int> or Histogram<double> =>
                _factory.CreateHistogram(instrument.Name, help, names, new HistogramConfiguration { Buckets = SecondsBuckets }),
            _ => _factory.CreateGauge(instrument.Name, help, names),
        });
        if (instrument.IsObservable && metric is Prometheus.Collector collector)
        {
            _observedNow[(collector, string.Join('\u0001', values))] = values;
        }

        switch (metric)
        {
            case Prometheus.Counter counter when instrument.IsObservable:
                counter.WithLabels(values).IncTo(value); // an observation is the running total
                break;
            case Prometheus.Counter counter:
                counter.WithLabels(values).Inc(value);   // a measurement is an increment
                break;
            case Prometheus.Histogram histogram:
                histogram.WithLabels(values).Observe(value);
                break;
            case Prometheus.Gauge gauge when instrument is UpDownCounter<long> or UpDownCounter<int> or UpDownCounter<double>:
                gauge.WithLabels(values).Inc(value);
                break;
            case Prometheus.Gauge gauge:
                gauge.WithLabels(values).Set(value);
                break;
        }
    }
}
