using LicBackdoor.Codec.Entropy;

namespace LicBackdoor.Bench;

/// <summary>
/// Synthetic symbol streams for the rANS benchmarks, coded with CompressAI's default Gaussian-conditional
/// table (64 scales, rows of 5 to 3133 CDF entries). Deterministic (seeded).
/// </summary>
public static class RansWorkloads
{
    /// <summary>Workload names: <c>a</c> = all scales, <c>b</c> = low-entropy synthetic stream, <c>kodak</c> = a real image's y symbols.</summary>
    public static readonly string[] Names = ["a", "b", "kodak"];

    /// <summary>One-line description of each workload, for reports.</summary>
    public static string Describe(string name) => name switch
    {
        "a" => "all 64 scales: uniform random index, symbol ~ round(N(0, scale)); 0.1% out-of-range escapes",
        "b" => "low entropy: 95% of indexes in 0..20 (skewed to small scales), 5% in 21..63; symbols mostly 0/±1",
        "kodak" => "kodim01's y symbols and scale indexes from the shipped hyperprior-mini q3 (its 192-level table), tiled",
        _ => throw new ArgumentException($"unknown workload '{name}'"),
    };

    /// <summary>The coder table all workloads use (built from CompressAI's default scale table).</summary>
    public static RansCdfTable Table { get; } = GaussianConditionalTables.Build(GaussianConditionalTables.DefaultScaleTable());

    /// <summary>
    /// Generates <paramref name="n"/> symbols and their table indexes.
    /// (a): index uniform in 0..63, symbol = round(N(0, scale[index])); with probability 1/1000 the symbol is
    /// replaced by a value 1..1000 beyond the row's range (either side), so the bypass path is exercised.
    /// (b): with probability 0.95 the index is floor(21 * u^2), u uniform (small scales, 0.11..1.3, favoured),
    /// otherwise uniform in 21..63; symbol = round(N(0, scale[index])), hence mostly 0 and ±1.
    /// </summary>
    public static (int[] Symbols, int[] Indexes) Generate(string name, int n, int seed = 12345)
    {
        var rng = new Random(seed);
        float[] scales = GaussianConditionalTables.DefaultScaleTable();
        RansCdfTable table = Table;
        var symbols = new int[n];
        var indexes = new int[n];
        for (int i = 0; i < n; i++)
        {
            int idx;
            switch (name)
            {
                case "a":
                    idx = rng.Next(64);
                    break;
                case "b":
                    if (rng.NextDouble() < 0.95)
                    {
                        double u = rng.NextDouble();
                        idx = (int)(21 * u * u);
                    }
                    else
                    {
                        idx = 21 + rng.Next(43);
                    }
                    break;
                default:
                    throw new ArgumentException($"unknown workload '{name}'");
            }
            indexes[i] = idx;
            int sym = (int)Math.Round(Gaussian(rng) * scales[idx]);
            if (name == "a" && rng.Next(1000) == 0)
            {
                int beyond = 1 + rng.Next(1000);
                int offset = table.Offset(idx), maxValue = table.CdfLength(idx) - 2;
                sym = rng.Next(2) == 0 ? offset - beyond : offset + maxValue - 1 + beyond;
            }
            symbols[i] = sym;
        }
        return (symbols, indexes);
    }

    /// <summary>
    /// The y symbols and Gaussian-conditional indexes of Kodak's kodim01 under the shipped hyperprior-mini q3
    /// (what its compress() codes), tiled to <paramref name="n"/> symbols, with that model's coder table.
    /// </summary>
    public static (int[] Symbols, int[] Indexes, RansCdfTable Table) Kodak(int n)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var _ = TorchSharp.torch.no_grad();
        var codec = LicBackdoor.Codec.Zoo.ModelStore.Open("bmshj2018-hyperprior", 3);
        var model = (LicBackdoor.Codec.Models.ScaleHyperprior)codec.Model;
        var x = LicBackdoor.Imaging.ImageFile.Load(Path.Combine(LicBackdoor.Data.DataRoot.Folder("kodak"), "kodim01.png"));
        var y = model.Analysis.forward(x);
        var z = model.HyperAnalysis.forward(y.abs());
        var zHat = model.EntropyBottleneck.Decompress(model.EntropyBottleneck.Compress(z), new[] { z.shape[2], z.shape[3] });
        var idx = model.GaussianConditional.BuildIndexes(model.HyperSynthesis.forward(zHat)).data<int>().ToArray();
        var sym = TorchSharp.torch.round(y).to_type(TorchSharp.torch.ScalarType.Int32).data<int>().ToArray();
        var symbols = new int[n];
        var indexes = new int[n];
        for (int i = 0; i < n; i++) { symbols[i] = sym[i % sym.Length]; indexes[i] = idx[i % idx.Length]; }
        return (symbols, indexes, model.GaussianConditional.CoderTable());
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
