using System.Diagnostics;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// ENet speed at the original 512 × 512 resolution: inference (<c>Predict</c>: resize, forward, resize back,
/// argmax) on a CamVid image, and one forward + backward through the differentiable <c>Logits</c> path as
/// the attacks use it, batch 1 and batch 4. One untimed warm-up per shape, then the median of R runs.
/// Usage: <c>enet [--runs R] [--threads T]</c>.
/// </summary>
public static class ENetTiming
{
    public static int Run(string[] args)
    {
        int runs = 5, threads = 2;
        if (!new BenchArgs("enet")
            .Value("--runs", v => runs = BenchArgs.Int(v))
            .Value("--threads", v => threads = BenchArgs.Int(v))
            .Apply(args)) return 2;
        NativeSetup.Initialize(threads);
        using var net = ENet.FromFile(Path.Combine(DataRoot.Resolve(), "models", "enet-camvid", "enet-camvid.pth"));
        var sample = CamVid.Open("test").Samples[0];
        Console.WriteLine($"# ENet timing: {get_num_threads()} threads, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, " +
                          $"load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start");
        Console.WriteLine("| what | batch | median s | min s |");
        Console.WriteLine("|---|---:|---:|---:|");
        using var image = sample.LoadImage();
        Report("Predict (inference, 480x360 in and out)", 1, runs, () => { using var _ = net.Predict(image); });
        foreach (int batch in new[] { 1, 4 })
        {
            using var x = image.expand(batch, -1, -1, -1).contiguous();
            Report("Logits forward + backward", batch, runs, () =>
            {
                using var scope = NewDisposeScope();
                var input = x.clone().requires_grad_(true);
                net.Logits(input)[.., 3].mean().backward();
            });
        }
        return 0;
    }

    private static void Report(string what, int batch, int runs, Action body)
    {
        body(); // warm-up
        var times = new List<double>();
        for (int r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            body();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        Console.WriteLine($"| {what} | {batch} | {times[times.Count / 2]:F3} | {times[0]:F3} |");
    }
}
