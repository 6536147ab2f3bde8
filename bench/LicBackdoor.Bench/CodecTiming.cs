using System.Diagnostics;
using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// Seconds per Kodak image to compress (image → .lic bytes) and decompress (.lic bytes → image) for
/// bmshj2018-hyperprior q3 and cheng2020-anchor q3, 2 threads, allocator tuned; plus the gap between the
/// real bpp and the likelihood bpp. The first image is coded once untimed (libtorch/oneDNN warm-up).
/// Usage: <c>codec [--images N] [--model NAME] [--weights-dir DIR]</c>.
/// </summary>
public static class CodecTiming
{
    // CompressAI 1.2.9 (PyTorch 1.13.1, 2 threads, allocator tuned) on this machine kind, seconds per Kodak
    // image, as given in issue #2: hyperprior q3 0.23 / 0.64, cheng2020-anchor q3 1.9 / 5.1 (compress / decompress).
    private static readonly Dictionary<string, (double Enc, double Dec, double TargetFactor)> Anchors = new()
    {
        [ScaleHyperprior.Name] = (0.23, 0.64, 0.5),
        [Cheng2020Anchor.Name] = (1.9, 5.1, 0.25),
    };

    public static int Run(string[] args)
    {
        int images = 24;
        string? only = null, weightsDir = null;
        if (!new BenchArgs("codec")
            .Value("--images", v => images = BenchArgs.Int(v))
            .Value("--model", v => only = v)
            .Value("--weights-dir", v => weightsDir = v)
            .Apply(args)) return 2;
        NativeSetup.Initialize(2);
        var files = CodecEvaluation.ImageFiles(DataRoot.Folder("kodak")).Take(images).ToList();
        Console.WriteLine($"# codec timing: {files.Count} Kodak images, {get_num_threads()} threads, allocator tuned: {NativeSetup.AllocatorTuned}");
        Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, {CpuModel()}, {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine("| model | weights | compress s/img | decompress s/img | CompressAI (enc / dec) | ratio enc / dec | target ratio | real bpp | likelihood bpp | gap |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var name in new[] { ScaleHyperprior.Name, Cheng2020Anchor.Name })
        {
            if (only is not null && only != name) continue;
            string? weights = weightsDir is null ? null : Path.Combine(weightsDir, $"{name}-q3.safetensors");
            if (weights is not null && !File.Exists(weights)) weights = null;
            // CompressAI's q3 sizes: the weights given, else a seeded fresh model (not the shipped mini weights).
            var codec = weights is not null ? ModelStore.Open(name, 3, weights)
                : new LoadedCodec(ModelZoo.CreateInitialized(name, 3), 3, $"init(seed={ModelZoo.DefaultInitSeed})");
            using (NewDisposeScope()) RoundTrip(codec, ImageFile.Load(files[0])); // warm-up
            double enc = 0, dec = 0, bits = 0, estBits = 0, pixels = 0;
            foreach (var f in files)
            {
                using var scope = NewDisposeScope();
                var x = ImageFile.Load(f);
                var (e, d, bytes) = RoundTrip(codec, x);
                enc += e; dec += d;
                bits += bytes * 8.0;
                estBits += CodecEvaluation.EstimatedBpp(codec, x) * x.shape[2] * x.shape[3];
                pixels += x.shape[2] * x.shape[3];
            }
            enc /= files.Count; dec /= files.Count;
            var a = Anchors[name];
            Console.WriteLine($"| {name} q3 | {codec.Source} | {enc:F3} | {dec:F3} | {a.Enc} / {a.Dec} | {enc / a.Enc:F2} / {dec / a.Dec:F2} | ≤ {a.TargetFactor} | {bits / pixels:F4} | {estBits / pixels:F4} | {(bits - estBits) / estBits * 100:F2} % |");
        }
        return 0;
    }

    private static (double Enc, double Dec, long PayloadBytes) RoundTrip(LoadedCodec codec, Tensor x)
    {
        var (file, xHat, enc, dec) = CodecEvaluation.TimedRoundTrip(codec, x);
        xHat.Dispose();
        return (enc, dec, file.PayloadBytes);
    }

    internal static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown CPU" : line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { return "unknown CPU"; }
    }
}
