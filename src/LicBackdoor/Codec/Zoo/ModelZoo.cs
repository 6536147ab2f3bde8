using LicBackdoor.Codec.Models;
using LicBackdoor.Runtime;

namespace LicBackdoor.Codec.Zoo;

/// <summary>Distortion metric a zoo model was trained for.</summary>
public enum ZooMetric { Mse, MsSsim }

/// <summary>One quality level of a zoo architecture.</summary>
/// <param name="Model">Registry name, e.g. "bmshj2018-hyperprior".</param>
/// <param name="Quality">1-based quality index.</param>
/// <param name="N">Channels of the transforms.</param>
/// <param name="M">Latent channels (M = N for cheng2020-anchor).</param>
/// <param name="LambdaMse">λ of the MSE-optimised model (CompressAI docs/source/zoo.rst).</param>
/// <param name="LambdaMsSsim">λ of the MS-SSIM-optimised model.</param>
public sealed record ZooEntry(string Model, int Quality, int N, int M, double LambdaMse, double LambdaMsSsim)
{
    /// <summary>The λ for <paramref name="metric"/>.</summary>
    public double Lambda(ZooMetric metric = ZooMetric.Mse) => metric == ZooMetric.Mse ? LambdaMse : LambdaMsSsim;
}

/// <summary>
/// The two architectures the project supports, with CompressAI's per-quality channel counts
/// (compressai/zoo/image.py <c>cfgs</c>) and training λ (docs/source/zoo.rst). Builds freshly initialised
/// models with a fixed seed, so a model without trained weights is still the same model on every run.
/// </summary>
public static class ModelZoo
{
    /// <summary>λ per quality for MSE models, q1..q8 (CompressAI zoo; the paper uses the same, §4.1).</summary>
    public static readonly IReadOnlyList<double> LambdasMse = new[] { 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800 };

    /// <summary>λ per quality for MS-SSIM models, q1..q8 (CompressAI zoo).</summary>
    public static readonly IReadOnlyList<double> LambdasMsSsim = new[] { 2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00 };

    /// <summary>
    /// CPU-sized configurations of the two architectures (same layers, fewer channels), which the project
    /// trains and ships in <c>models/</c>: "hyperprior-mini" is ScaleHyperprior N=64 with CompressAI's M=192 (a
    /// training step of 8x128x128 crops takes ~0.12 s on 2 cores vs ~1 s for N=128/M=192 at 256x256; M=192 rather
    /// than 96 because the bit-rate attack needs the latent channels a trained M=192 model leaves unused, see
    /// docs/RESULTS.md, "The bit-rate attack's ceiling"); "cheng2020-anchor-mini" is Cheng2020Anchor N=64.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (string Model, int N, int M)> MiniConfigs = new Dictionary<string, (string, int, int)>
    {
        ["hyperprior-mini"] = (ScaleHyperprior.Name, 64, 192),
        ["cheng2020-anchor-mini"] = (Cheng2020Anchor.Name, 64, 64),
    };

    /// <summary>The mini configuration of an architecture.</summary>
    public static (int N, int M) MiniSize(string model) =>
        MiniConfigs.Values.FirstOrDefault(c => c.Model == model) is { Model: not null } c
            ? (c.N, c.M)
            : throw new ArgumentException($"no mini configuration for '{model}'");

    /// <summary>The seed used to initialise models that have no trained weights.</summary>
    public const int DefaultInitSeed = 0;

    private static readonly ZooEntry[] Entries = BuildEntries();

    private static ZooEntry[] BuildEntries()
    {
        var list = new List<ZooEntry>();
        for (int q = 1; q <= 8; q++)
        {
            (int n, int m) = q <= 5 ? (128, 192) : (192, 320);
            list.Add(new ZooEntry(ScaleHyperprior.Name, q, n, m, LambdasMse[q - 1], LambdasMsSsim[q - 1]));
        }
        for (int q = 1; q <= 6; q++)
        {
            int n = q <= 3 ? 128 : 192;
            list.Add(new ZooEntry(Cheng2020Anchor.Name, q, n, n, LambdasMse[q - 1], LambdasMsSsim[q - 1]));
        }
        return list.ToArray();
    }

    /// <summary>Every (model, quality) entry.</summary>
    public static IReadOnlyList<ZooEntry> All => Entries;

    /// <summary>The supported model names.</summary>
    public static IReadOnlyList<string> ModelNames { get; } = new[] { ScaleHyperprior.Name, Cheng2020Anchor.Name };

    /// <summary>The qualities available for <paramref name="model"/>.</summary>
    public static IReadOnlyList<int> Qualities(string model) =>
        Entries.Where(e => e.Model == model).Select(e => e.Quality).ToArray() is { Length: > 0 } q
            ? q
            : throw new ArgumentException($"unknown model '{model}' (known: {string.Join(", ", ModelNames)})");

    /// <summary>The entry for <paramref name="model"/> at <paramref name="quality"/>; throws a clear error for unknown ones.</summary>
    public static ZooEntry Get(string model, int quality)
    {
        var qualities = Qualities(model);
        return Entries.FirstOrDefault(e => e.Model == model && e.Quality == quality)
            ?? throw new ArgumentException($"{model} has no quality {quality} (valid: {qualities.Min()}-{qualities.Max()})");
    }

    /// <summary>Builds an architecture with the given channel counts (for cheng2020-anchor, M ≤ 0 means M = N, CompressAI's tie).</summary>
    public static CompressionModel Build(string model, int n, int m) => TorchScope.Build<CompressionModel>(() => model switch
    {
        ScaleHyperprior.Name => new ScaleHyperprior(n, m),
        Cheng2020Anchor.Name => new Cheng2020Anchor(n, m > 0 ? m : null),
        _ => throw new ArgumentException($"unknown model '{model}' (known: {string.Join(", ", ModelNames)})"),
    });

    /// <summary>
    /// A freshly initialised model for <paramref name="model"/> at <paramref name="quality"/>, seeded so that
    /// every run builds the same weights, in eval mode, with its CDF tables built.
    /// </summary>
    public static CompressionModel CreateInitialized(string model, int quality, int seed = DefaultInitSeed)
    {
        var e = Get(model, quality);
        TorchSharp.torch.random.manual_seed(seed);
        var net = Build(model, e.N, e.M);
        net.eval();
        net.Update(force: true);
        return net;
    }
}
