using System.Diagnostics;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// Seconds per step of the real training loop (forward, RD loss, backward, clipping, Adam, aux loss and
/// its step) for ScaleHyperprior at N=128/M=192 with batch 8 of 256x256 and at N=64/M=96 with batch 8 of
/// 128x128, 2 threads, allocator tuned; and how much of a step goes to GDN, the entropy models and the
/// aux step (measured by timing the same step with those parts isolated).
/// Usage: <c>train-step [--steps K] [--threads T]</c>.
/// </summary>
public static class TrainStepTiming
{
    public static int Run(string[] args)
    {
        int steps = 12, threads = 2;
        if (!new BenchArgs("train-step")
            .Value("--steps", v => steps = BenchArgs.Int(v))
            .Value("--threads", v => threads = BenchArgs.Int(v))
            .Apply(args)) return 2;
        NativeSetup.Initialize(threads);
        Console.WriteLine($"# training step timing: {get_num_threads()} threads, allocator tuned: {NativeSetup.AllocatorTuned}, {Environment.ProcessorCount} cores, {CodecTiming.CpuModel()}, {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine("| config | step s (min / median) | forward+loss | backward | clip+Adam | aux loss+step | GDN share of fwd | entropy models share of fwd | CompressAI tuned | ratio |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        Measure("N=128 M=192, 8x256x256", 128, 192, 256, steps, 2.4);
        Measure("N=64 M=96, 8x128x128", 64, 96, 128, steps * 4, 0.195);
        return 0;
    }

    private static void Measure(string label, int n, int m, int crop, int steps, double compressAi)
    {
        random.manual_seed(1);
        var model = new ScaleHyperprior(n, m);
        model.train();
        var named = model.named_parameters().ToList();
        using var net = new Adam(named.Where(p => !p.name.EndsWith(".quantiles", StringComparison.Ordinal)), 1e-4);
        using var aux = new Adam(named.Where(p => p.name.EndsWith(".quantiles", StringComparison.Ordinal)), 1e-3);
        var x = rand(8, 3, crop, crop);
        var total = new List<double>();
        double fwd = 0, bwd = 0, opt = 0, auxT = 0;
        for (int s = 0; s < steps + 2; s++)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            net.ZeroGrad(); aux.ZeroGrad();
            var output = model.forward(x);
            var terms = RateDistortionLoss.Compute(output, x, 0.0067);
            double t1 = sw.Elapsed.TotalSeconds;
            terms.Loss.backward();
            double t2 = sw.Elapsed.TotalSeconds;
            nn.utils.clip_grad_norm_(net.Parameters.Select(p => p.P), 1.0);
            net.Update();
            double t3 = sw.Elapsed.TotalSeconds;
            var a = model.AuxLoss();
            a.backward();
            aux.Update();
            double t4 = sw.Elapsed.TotalSeconds;
            if (s < 2) continue; // warm-up
            total.Add(t4); fwd += t1; bwd += t2 - t1; opt += t3 - t2; auxT += t4 - t3;
        }
        total.Sort();
        int k = total.Count;
        // Forward-pass shares: time the GDN layers and the entropy models alone on the same activations.
        double gdnShare, entropyShare;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var sw = Stopwatch.StartNew();
            for (int r = 0; r < 3; r++) model.forward(x);
            double forward = sw.Elapsed.TotalSeconds / 3;
            var y = model.Analysis.forward(x);
            var gdns = model.modules().OfType<LicBackdoor.Codec.Layers.Gdn>().ToList();
            var inputs = new List<Tensor>();
            var h = x;
            foreach (var layer in model.Analysis.children().Cast<nn.Module<Tensor, Tensor>>())
            {
                if (layer is LicBackdoor.Codec.Layers.Gdn) inputs.Add(h);
                h = layer.forward(h);
            }
            sw.Restart();
            for (int r = 0; r < 3; r++)
                foreach (var (g, inp) in gdns.Take(inputs.Count).Zip(inputs)) g.forward(inp);
            double gdnTime = sw.Elapsed.TotalSeconds / 3 * 2; // analysis GDNs, doubled for the synthesis IGDNs of the same sizes
            var z = model.HyperAnalysis.forward(y.abs());
            var scales = model.HyperSynthesis.forward(model.EntropyBottleneck.Forward(z, training: true).Output);
            sw.Restart();
            for (int r = 0; r < 3; r++)
            {
                model.EntropyBottleneck.Forward(z, training: true);
                model.GaussianConditional.Forward(y, scales, training: true);
            }
            double entropyTime = sw.Elapsed.TotalSeconds / 3;
            gdnShare = gdnTime / forward;
            entropyShare = entropyTime / forward;
        }
        double median = total[k / 2];
        Console.WriteLine($"| {label} | {total[0]:F3} / {median:F3} | {fwd / k:F3} | {bwd / k:F3} | {opt / k:F3} | {auxT / k:F4} | {gdnShare:P0} | {entropyShare:P0} | {compressAi} | {median / compressAi:F2} |");
        model.Dispose();
    }
}
