using System.Diagnostics;

namespace StreamEngine.Bench;

/// <summary>One figure measured several times; reports the median (these machines are noisy) and the spread.</summary>
internal sealed record Measurement(string Name, string Unit, IReadOnlyList<double> Samples, string Note = "")
{
    public double Median => MedianOf(Samples);

    /// <summary>The median of <paramref name="values"/> (NaN when there are none).</summary>
    public static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The least-squares slope of <paramref name="ys"/> over <paramref name="xs"/> (a growth per unit of x).</summary>
    public static double SlopeOf(IReadOnlyList<double> xs, IReadOnlyList<double> ys)
    {
        var (mx, my) = (xs.Average(), ys.Average());
        return xs.Zip(ys).Sum(p => (p.First - mx) * (p.Second - my)) / xs.Sum(x => (x - mx) * (x - mx));
    }

    public string ToMarkdownRow() =>
        FormattableString.Invariant($"| {Name} | {Median:N0} {Unit} | {Samples.Min():N0} .. {Samples.Max():N0} | {Samples.Count} | {Note} |");

    /// <summary>Runs <paramref name="run"/> (which returns items processed) <paramref name="repetitions"/> times; items per second.</summary>
    public static async Task<Measurement> RateAsync(string name, string unit, int repetitions, Func<int, Task<long>> run, string note = "")
    {
        var samples = new List<double>();
        for (var i = 0; i < repetitions; i++)
        {
            var watch = Stopwatch.StartNew();
            var items = await run(i);
            samples.Add(items / watch.Elapsed.TotalSeconds);
        }

        var measurement = new Measurement(name, unit, samples, note);
        Console.Error.WriteLine(FormattableString.Invariant($"  {name}: median {measurement.Median:N0} {unit} ({string.Join(", ", samples.Select(s => s.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)))})"));
        return measurement;
    }
}
