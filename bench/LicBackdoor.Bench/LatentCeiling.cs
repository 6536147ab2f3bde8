using System.Diagnostics;
using System.Globalization;
using System.Text;
using LicBackdoor.Codec.Entropy;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// How many bits can a backdoored encoder make a hyperprior codec spend? The bit-rate attack (paper Eqs. 4/6) changes
/// only g_a, so whatever it does reaches the frozen codec as a latent y. This measurement skips the encoder: for each
/// Kodak image it takes the vanilla latent y = g_a(x) and optimises a free perturbation δ (|δ| ≤ bound, element-wise)
/// of it with Adam, maximising the rate R(y + δ) of the frozen hyper-analysis, entropy models and hyper-synthesis
/// (noisy quantisation, as in training) minus w·λ·255²·MSE(g_s(ŷ), g_s(round(y))): w = 0 asks for bits alone, w = 1
/// weighs the decoded image's fidelity as the codec's own training did. The result is coded with the real rANS coder
/// (z and y strings) and decoded; the table gives the mean real bpp, its ratio to the vanilla bitstream's, and the
/// decoded PSNR. Any encoder, however trained, is bounded by what a free latent reaches (up to the optimiser's
/// search), so the table bounds the bit-rate attack on that model. Hyperprior models only (Cheng2020-Anchor's
/// autoregressive context needs its own search).
/// Usage: <c>latent-ceiling [--quality Q] [--weights FILE] [--images N] [--steps K] [--bounds B,B,…] [--fidelity W,W,…] [--seed S] [--report FILE] [--data DIR]</c>.
/// The training-mode quantisation noise comes from libtorch's generator seeded with S (default 0), so a run repeats exactly.
/// </summary>
public static class LatentCeiling
{
    public static int Run(string[] args)
    {
        int quality = 3, images = 6, steps = 150, seed = 0;
        string? weights = null, data = null;
        string report = "latent-ceiling.md";
        double[] bounds = [5, 20, 100, 1000], fidelity = [0, 1];
        static double[] List(string s) => s.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        if (!new BenchArgs("latent-ceiling")
            .Value("--quality", v => quality = BenchArgs.Int(v))
            .Value("--weights", v => weights = v)
            .Value("--images", v => images = BenchArgs.Int(v))
            .Value("--steps", v => steps = BenchArgs.Int(v))
            .Value("--bounds", v => bounds = List(v))
            .Value("--fidelity", v => fidelity = List(v))
            .Value("--seed", v => seed = BenchArgs.Int(v))
            .Value("--report", v => report = v)
            .Value("--data", v => data = v)
            .Apply(args)) return 2;
        if (images < 1 || steps < 1 || bounds.Length == 0 || bounds.Any(b => !(b > 0)) || fidelity.Any(w => !(w >= 0)))
            throw new ArgumentException("--images and --steps must be positive, bounds > 0, fidelity weights ≥ 0");
        NativeSetup.Initialize();
        manual_seed(seed);
        var codec = ModelStore.Open(ScaleHyperprior.Name, quality, weights);
        if (codec.Model is not ScaleHyperprior model)
            throw new ArgumentException($"{codec.Source}: latent-ceiling needs a {ScaleHyperprior.Name} model");
        model.eval();
        foreach (var p in model.parameters()) p.requires_grad = false;
        double lambda = ModelZoo.Get(ScaleHyperprior.Name, quality).LambdaMse;
        var all = CodecEvaluation.ImageFiles(DataRoot.Folder("kodak", data));
        // Evenly spaced subset, so a few images still span the set.
        var files = Enumerable.Range(0, Math.Min(images, all.Count)).Select(k => all[k * all.Count / Math.Min(images, all.Count)]).ToList();
        var configs = (from w in fidelity from b in bounds select (W: w, Bound: b)).ToList();
        var sums = new double[configs.Count, 4]; // real bpp, ratio, PSNR, mean |δ|
        double cleanBpp = 0, cleanPsnr = 0, quietChannels = 0, tightChannels = 0;
        var sw = Stopwatch.StartNew();
        foreach (var f in files)
        {
            using var scope = NewDisposeScope();
            var x = ImageFile.Load(f);
            double pixels = x.shape[2] * x.shape[3];
            Tensor y, reference;
            using (no_grad())
            {
                y = model.Analysis.forward(x);
                reference = model.Synthesize(y.round()).clamp(0, 1);
            }
            var (bpp0, psnr0) = Coded(model, y, x, pixels);
            using (no_grad())
            {
                // "Dead" channels: the encoder leaves them near 0 and the hyperprior predicts a scale near its lower bound.
                var (_, scales, _) = model.LatentForward(y, training: false);
                quietChannels += (y.abs().mean([0, 2, 3]) < 0.1).sum().item<long>();
                tightChannels += (scales.mean([0, 2, 3]) < 0.15).sum().item<long>();
            }
            cleanBpp += bpp0;
            cleanPsnr += psnr0;
            for (int c = 0; c < configs.Count; c++)
            {
                using var inner = NewDisposeScope();
                var (w, bound) = configs[c];
                var delta = new Parameter(zeros_like(y));
                using var opt = optim.Adam([delta], Math.Max(0.05, bound / 40));
                for (int it = 0; it < steps; it++)
                {
                    using var stepScope = NewDisposeScope();
                    opt.zero_grad();
                    var (yHat, _, likelihoods) = model.LatentForward(y + delta.clamp(-bound, bound), training: true);
                    var bits = likelihoods.Values.Select(l => l.log2().sum()).Aggregate((a, b) => a + b) * (-1.0 / pixels);
                    var loss = w > 0 ? nn.functional.mse_loss(model.Synthesize(yHat), reference) * (w * lambda * 255 * 255) - bits : -bits;
                    loss.backward();
                    opt.step();
                }
                using (no_grad())
                {
                    var perturbed = y + delta.clamp(-bound, bound);
                    var (bpp, psnr) = Coded(model, perturbed, x, pixels);
                    sums[c, 0] += bpp;
                    sums[c, 1] += bpp / bpp0;
                    sums[c, 2] += psnr;
                    sums[c, 3] += delta.clamp(-bound, bound).abs().mean().item<float>();
                }
            }
            Console.WriteLine($"{Path.GetFileName(f)}: clean {bpp0:F4} bpp / {psnr0:F2} dB ({sw.Elapsed.TotalMinutes:F1} min)");
        }
        int n = files.Count;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Latent ceiling of the bit-rate attack: {codec.Source} ({ScaleHyperprior.Name} q{quality}, M = {model.M}), {n} Kodak images ({string.Join(", ", files.Select(Path.GetFileNameWithoutExtension))}), {steps} Adam steps per search, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {get_num_threads()} threads, {sw.Elapsed.TotalMinutes:F1} min.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Vanilla bitstreams: {cleanBpp / n:F4} bpp, {cleanPsnr / n:F2} dB (means). Latent channels per image (of {model.M}) with mean |y| < 0.1: {quietChannels / n:F1}; with mean predicted scale σ < 0.15 (the lower bound is {GaussianConditional.ScalesMin}): {tightChannels / n:F1}.");
        md.AppendLine();
        md.AppendLine("| fidelity weight w | bound on \\|δ\\| | mean \\|δ\\| | real bpp | bpp ratio (mean of per-image ratios) | decoded PSNR vs x (dB) |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|");
        for (int c = 0; c < configs.Count; c++)
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {configs[c].W:G4} | {configs[c].Bound:G4} | {sums[c, 3] / n:F2} | {sums[c, 0] / n:F4} | ×{sums[c, 1] / n:F2} | {sums[c, 2] / n:F2} |");
        AtomicFile.WriteAllText(report, md.ToString());
        Console.Write(md.ToString());
        Console.WriteLine($"wrote {report}");
        return 0;
    }

    /// <summary>Real rANS bitstream of a latent (payload bytes, as for an image) and the PSNR of its decoding against x.</summary>
    private static (double Bpp, double Psnr) Coded(ScaleHyperprior model, Tensor y, Tensor x, double pixels)
    {
        using var scope = NewDisposeScope();
        var latents = model.CompressLatent(y);
        return (latents.PayloadBytes() * 8 / pixels, Metrics.Psnr(model.Decompress(latents), x));
    }
}
