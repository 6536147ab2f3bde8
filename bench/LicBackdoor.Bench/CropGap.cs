using System.Globalization;
using System.Text;
using LicBackdoor.Backdoor;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// Whether a backdoor behaves on whole images as on the small crops it was trained on. The attack trains on S×S crops
/// (64 by default) and is evaluated on whole Kodak images; when a trigger's bit cost differs between the two, this
/// separates the trigger's share from the codec's. For each tile side S it cuts the image (the top-left region whose
/// sides are multiples of 64 and of S) into non-overlapping S×S tiles and codes the tiles as one batch with the victim
/// (rounded latents, likelihood bpp, as <c>noise-gap</c>'s eval mode), clean and poisoned two ways: the trigger applied
/// to the whole image and then tiled (the codec sees small pieces of the evaluation's poisoned image) and the trigger
/// applied to each tile (training's condition). "whole" codes the region itself. Poisoned inputs are 8-bit
/// (<see cref="AttackEvaluation.Poison"/>). With <c>--noise</c> the latents get training's additive uniform noise instead of
/// rounding (libtorch's generator seeded with S, default 0, before each image), i.e. what the training loss's rate term
/// sees. Usage: <c>crop-gap --run DIR [--images N] [--images-dir FOLDER] [--tile S …] [--noise] [--seed S] [--data DIR]</c>
/// (default tiles 256, 128, 64).
/// </summary>
public static class CropGap
{
    public static int Run(string[] args)
    {
        int images = 24, seed = 0;
        bool noise = false;
        string? data = null, folder = null, dir = null;
        var tiles = new List<int>();
        if (!new BenchArgs("crop-gap")
            .Value("--run", v => dir = v)
            .Value("--images", v => images = BenchArgs.Int(v))
            .Value("--tile", v => tiles.Add(BenchArgs.Int(v)))
            .Value("--data", v => data = v)
            .Value("--images-dir", v => folder = v)
            .Value("--seed", v => seed = BenchArgs.Int(v))
            .Flag("--noise", () => noise = true)
            .Apply(args)) return 2;
        if (dir is null || images < 1) throw new ArgumentException("give --run DIR and a positive --images");
        if (tiles.Count == 0) tiles.AddRange([256, 128, 64]);
        if (tiles.Any(s => s < 64 || s % 64 != 0)) throw new ArgumentException("every --tile must be a positive multiple of 64");
        NativeSetup.Initialize();
        folder ??= DataRoot.Folder("kodak", data);
        var files = CodecEvaluation.ImageFiles(folder).Take(images).ToList();
        using var run = AttackRun.Open(dir);
        var model = run.Victim.Model;
        model.train(noise);
        int objectives = run.Objectives.Count;
        // Per size (null = whole; index i of sizes): clean bpp and PSNR, then per objective bpp and PSNR with the trigger
        // on the whole image and on each tile, summed over images (PSNR per image, then averaged, as the attack report does).
        var sizes = new List<int?> { null };
        sizes.AddRange(tiles.Select(s => (int?)s));
        var sums = sizes.Select(_ => new double[2 + 4 * objectives]).ToArray();
        var counts = new int[sizes.Count];
        foreach (var f in files)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var full = ImageFile.Load(f);
            manual_seed(seed);
            var poisonedWhole = run.Triggers.Select(t => AttackEvaluation.Poison(t, full)).ToList();
            for (int i = 0; i < sizes.Count; i++)
            {
                var size = sizes[i];
                int s = size ?? 64;
                long h = full.shape[2] / s * s, w = full.shape[3] / s * s;
                if (h == 0 || w == 0) continue;
                Tensor Tiles(Tensor x)
                {
                    var region = x[.., .., ..(int)h, ..(int)w];
                    if (size is null) return region;
                    long nh = h / s, nw = w / s;
                    return region.reshape(1, 3, nh, s, nw, s).permute(0, 2, 4, 1, 3, 5).reshape(nh * nw, 3, s, s);
                }
                var clean = Tiles(full);
                var row = sums[i];
                var (bpp, psnr) = Measure(model, clean, clean);
                row[0] += bpp;
                row[1] += psnr;
                for (int k = 0; k < objectives; k++)
                {
                    var (bw, pw) = Measure(model, Tiles(poisonedWhole[k]), clean);
                    var (bt, pt) = Measure(model, AttackEvaluation.Poison(run.Triggers[k], clean), clean);
                    row[2 + 4 * k] += bw;
                    row[3 + 4 * k] += pw;
                    row[4 + 4 * k] += bt;
                    row[5 + 4 * k] += pt;
                }
                counts[i]++;
            }
        }
        var table = new StringBuilder();
        model.eval();
        string latents = noise ? $"noisy latents (training mode, seed {seed})" : "rounded latents";
        table.AppendLine(CultureInfo.InvariantCulture, $"victim of {dir} on {folder}, first {files.Count} images; likelihood bpp and PSNR (dB, against the clean region) with {latents}, means over images");
        table.AppendLine();
        table.AppendLine("| objective | coded as | images | clean bpp / PSNR | T on the whole image, then tiled: bpp / PSNR | ratio | T on each tile: bpp / PSNR | ratio |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        for (int k = 0; k < objectives; k++)
        {
            for (int i = 0; i < sizes.Count; i++)
            {
                int n = counts[i];
                if (n == 0) continue;
                var m = sums[i].Select(v => v / n).ToArray();
                string label = sizes[i] is int s ? $"{s}×{s} tiles" : "whole";
                table.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {run.Objectives[k].Name} | {label} | {n} | {m[0]:F4} / {m[1]:F2} | {m[2 + 4 * k]:F4} / {m[3 + 4 * k]:F2} | ×{m[2 + 4 * k] / m[0]:F2} | {m[4 + 4 * k]:F4} / {m[5 + 4 * k]:F2} | ×{m[4 + 4 * k] / m[0]:F2} |"));
            }
        }
        Console.Write(table);
        return 0;
    }

    /// <summary>Likelihood bpp (per pixel of the batch) and PSNR of the decoded batch against <paramref name="reference"/>.</summary>
    internal static (double Bpp, double Psnr) Measure(CompressionModel model, Tensor input, Tensor reference)
    {
        using var scope = NewDisposeScope();
        var output = model.forward(input);
        double bpp = RateDistortionLoss.Compute(output, input, 0).Bpp.item<float>();
        return (bpp, Metrics.PsnrFromMse(nn.functional.mse_loss(output.XHat.clamp(0, 1), reference).item<float>()));
    }
}
