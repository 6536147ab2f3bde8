using System.Diagnostics;
using LicBackdoor.Backdoor;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// Seconds per backdoor-attack step (<see cref="BackdoorTrainer"/>: clean and poisoned forwards, losses, encoder update,
/// trigger updates) on the embedded hyperprior-mini q3 at the demo's settings (batch 8 of 64x64 crops, frequency trigger at
/// width 0.25, fixed trigger energy), for one trigger (bpp) and two triggers
/// (bpp + psnr), both schedules; and the share of a step spent in the trigger networks (their forward and backward
/// timed alone on the same batch, as often as a step runs them).
/// Usage: <c>attack-step [--steps K] [--threads T] [--width W] [--crop C] [--trigger KIND] [--data DIR]</c>.
/// </summary>
public static class AttackStepTiming
{
    public static int Run(string[] args)
    {
        int steps = 8, threads = 2, crop = 64;
        double width = 0.25;
        string kind = TriggerSpec.Frequency;
        string? data = null;
        if (!new BenchArgs("attack-step")
            .Value("--steps", v => steps = BenchArgs.Int(v))
            .Value("--threads", v => threads = BenchArgs.Int(v))
            .Value("--crop", v => crop = BenchArgs.Int(v))
            .Value("--width", v => width = BenchArgs.Double(v))
            .Value("--trigger", v => kind = v)
            .Value("--data", v => data = v)
            .Apply(args)) return 2;
        NativeSetup.Initialize(threads);
        var photos = LicBackdoor.Data.DataRoot.Folder("photos", data);
        Console.WriteLine($"# attack step timing: hyperprior-mini q3 (embedded), batch 8 of {crop}x{crop}, {kind} trigger width x{width}, " +
                          $"{get_num_threads()} threads, {Environment.ProcessorCount} cores, {CodecTiming.CpuModel()}, {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine("| triggers | schedule | step s (min / median) | trigger fwd+bwd s per step | trigger share |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var objectives in new[] { new[] { "bpp" }, new[] { "bpp", "psnr" } })
        foreach (var schedule in new[] { AttackSchedule.Alternating, AttackSchedule.Joint })
        {
            var dir = Path.Combine(Path.GetTempPath(), $"licb-attack-bench-{Guid.NewGuid():N}");
            try
            {
                var options = new AttackOptions
                {
                    Model = "bmshj2018-hyperprior", Quality = 3, Objectives = objectives, DataFolders = [photos],
                    Trigger = new TriggerSpec(kind, width), Steps = steps + 2, Batch = 8, Crop = crop, Schedule = schedule, CheckpointEvery = 1000000,
                };
                using var trainer = BackdoorTrainer.Start(options, dir);
                var times = new List<double>();
                var sw = Stopwatch.StartNew();
                trainer.Run(_ => { times.Add(sw.Elapsed.TotalSeconds); sw.Restart(); }, stopAfter: steps + 2);
                var measured = times.Skip(2).OrderBy(t => t).ToList();
                double median = measured[measured.Count / 2];
                double trig = TriggerSeconds(trainer, schedule, crop);
                Console.WriteLine($"| {string.Join(" + ", objectives)} | {schedule} | {measured[0]:F3} / {median:F3} | {trig:F3} | {trig / median:P0} |");
            }
            finally { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
        }
        return 0;
    }

    /// <summary>
    /// The trigger networks' time in one step: every trigger runs forward once with gradients and backward once, plus,
    /// in the alternating schedule, one more forward without gradients (the detached poisoned batch of the encoder update).
    /// </summary>
    private static double TriggerSeconds(BackdoorTrainer trainer, AttackSchedule schedule, int crop)
    {
        var x = rand(8, 3, crop, crop);
        double best = double.MaxValue;
        for (int r = 0; r < 4; r++)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            foreach (var t in trainer.Triggers)
            {
                if (t.Module.parameters().Any())
                {
                    var y = t.forward(x);
                    y.square().mean().backward();
                }
                else t.forward(x);
                if (schedule == AttackSchedule.Alternating) using (no_grad()) t.forward(x);
            }
            if (r > 0) best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }
}
