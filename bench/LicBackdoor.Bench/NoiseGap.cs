using System.Globalization;
using System.Text;
using LicBackdoor.Backdoor;
using LicBackdoor.Codec.Models;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// What the training loss sees against what a bitstream gives. Training (codec and attack alike) replaces rounding by
/// additive uniform noise (CompressAI's "noise" mode) for both the rate and the decoder's input; a real bitstream
/// rounds. For a vanilla codec the two agree closely; this measures whether a backdoored encoder keeps that agreement
/// on clean images. For each attack run it takes the vanilla codec and the victim (the run's encoder) and gives, over
/// the first N Kodak images or of another folder (whole images, or their top-left region with sides a multiple of 64
/// for other sizes; no bitstream, the rounded forward pass gives the decoded image), the mean
/// PSNR of the decoder's output with noisy latents (training mode) and with rounded latents (eval mode), and the
/// likelihood bpp of each. Usage: <c>noise-gap --run DIR [--run DIR …] [--images N] [--images-dir FOLDER] [--seed S] [--data DIR]</c>.
/// The noise comes from libtorch's generator seeded with S (default 0), reseeded per model, so a run repeats exactly.
/// </summary>
public static class NoiseGap
{
    public static int Run(string[] args)
    {
        int images = 8, seed = 0;
        string? data = null, folder = null;
        var runs = new List<string>();
        if (!new BenchArgs("noise-gap")
            .Value("--run", v => runs.Add(v))
            .Value("--images", v => images = BenchArgs.Int(v))
            .Value("--seed", v => seed = BenchArgs.Int(v))
            .Value("--data", v => data = v)
            .Value("--images-dir", v => folder = v)
            .Apply(args)) return 2;
        if (runs.Count == 0 || images < 1) throw new ArgumentException("give at least one --run DIR and a positive --images");
        NativeSetup.Initialize();
        folder ??= DataRoot.Folder("kodak", data);
        var files = CodecEvaluation.ImageFiles(folder).Take(images).ToList();
        // Loaded once for every model; the top-left region whose sides are multiples of 64 (Kodak's 768x512 whole), so
        // no padding enters the PSNR.
        var inputs = new List<Tensor>();
        foreach (var f in files)
        {
            using var full = ImageFile.Load(f);
            long h = full.shape[2] / 64 * 64, w = full.shape[3] / 64 * 64;
            if (h == 0 || w == 0) throw new ArgumentException($"{f}: smaller than 64x64");
            inputs.Add(full[.., .., ..(int)h, ..(int)w].clone());
        }
        // Runs on one victim share its vanilla codec: measured once.
        var vanillaRows = new Dictionary<string, string>();
        var table = new StringBuilder();
        table.AppendLine($"{folder}, first {files.Count} images; PSNR (dB) of the decoder's output and likelihood bpp, noisy latents (training) vs rounded (bitstream)");
        table.AppendLine();
        table.AppendLine("| model | PSNR noisy | PSNR rounded | gap | bpp noisy | bpp rounded |");
        table.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var dir in runs)
        {
            using var run = AttackRun.Open(dir);
            if (!vanillaRows.TryGetValue(run.Vanilla.Source, out var vanillaRow))
                vanillaRows[run.Vanilla.Source] = vanillaRow = Row("vanilla", run.Vanilla.Model, inputs, seed);
            table.AppendLine(vanillaRow);
            table.AppendLine(Row($"victim of {dir}", run.Victim.Model, inputs, seed));
        }
        foreach (var x in inputs) x.Dispose();
        Console.Write(table);
        return 0;
    }

    private static string Row(string label, CompressionModel model, IReadOnlyList<Tensor> inputs, int seed)
    {
        var (pn, bn) = Measure(model, inputs, train: true, seed);
        var (pr, br) = Measure(model, inputs, train: false, seed);
        return string.Create(CultureInfo.InvariantCulture, $"| {label} | {pn:F2} | {pr:F2} | {pr - pn:+0.00;-0.00} | {bn:F4} | {br:F4} |");
    }

    private static (double Psnr, double Bpp) Measure(CompressionModel model, IReadOnlyList<Tensor> inputs, bool train, int seed)
    {
        manual_seed(seed);
        model.train(train);
        double psnr = 0, bpp = 0;
        foreach (var x in inputs)
        {
            using var _ = no_grad();
            var (b, p) = CropGap.Measure(model, x, x);
            bpp += b;
            psnr += p;
        }
        model.eval();
        return (psnr / inputs.Count, bpp / inputs.Count);
    }
}
