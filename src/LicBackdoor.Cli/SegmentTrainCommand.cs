using System.CommandLine;
using System.Globalization;
using LicBackdoor.Data;
using LicBackdoor.Downstream.Training;
using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb segment train --run DIR [--arch enet|resnet] [--steps N] [--batch B] [--crop WxH] [--lr LR] [--seed S] [--resume]</c>:
/// trains a CamVid segmentation net (<see cref="SegmentationTrainer"/>), resumable.
/// </summary>
internal static class SegmentTrainCommand
{
    public static Command Build()
    {
        var d = new SegmentationTrainOptions { DataRoot = "" };
        string F(double v) => v.ToString("G", CultureInfo.InvariantCulture);
        var run = new Option<string>("--run") { Description = "run folder (options, checkpoint, log, final model.safetensors)", Required = true };
        var resume = new Option<bool>("--resume") { Description = "continue the run in --run from its last checkpoint" };
        var arch = new Option<string>("--arch") { Description = "architecture: enet (the paper's downstream net) or resnet (SegResNet, for transfer)", DefaultValueFactory = _ => d.Architecture };
        var width = new Option<int>("--width") { Description = "SegResNet base width (stages 1.5w, 3w, 5w, 8w)", DefaultValueFactory = _ => d.ResNetWidth };
        var steps = new Option<int>("--steps") { Description = "total steps (with --resume: changes the run's total)", DefaultValueFactory = _ => d.Steps };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => d.Batch };
        var crop = new Option<string>("--crop") { Description = "training crop WxH or S (square), after the random scale; ENet: multiples of 8", DefaultValueFactory = _ => $"{d.CropWidth}x{d.CropHeight}" };
        var scale = new Option<string>("--scale") { Description = "random image scale range MIN-MAX before cropping (1 = 480x360)", DefaultValueFactory = _ => $"{F(d.ScaleMin)}-{F(d.ScaleMax)}" };
        var inputScale = new Option<double>("--input-scale") { Description = "scale of the image the net sees at evaluation (recorded in the weights)", DefaultValueFactory = _ => d.InputScale };
        var jitter = new Option<double>("--jitter") { Description = "colour jitter: brightness, contrast, saturation factors in [1-j, 1+j]", DefaultValueFactory = _ => d.Jitter };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate (peak of the cosine schedule)", DefaultValueFactory = _ => d.LearningRate };
        var wd = new Option<double>("--weight-decay") { Description = "Adam L2 weight decay", DefaultValueFactory = _ => d.WeightDecay };
        var warmup = new Option<int>("--warmup") { Description = "linear warm-up steps", DefaultValueFactory = _ => d.WarmupSteps };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => d.Seed };
        var validateEvery = new Option<int>("--validate-every") { DefaultValueFactory = _ => d.ValidateEvery };
        var validationImages = new Option<int>("--validation-images") { Description = "test images scored at each validation (0: none)", DefaultValueFactory = _ => d.ValidationImages };
        var checkpointEvery = new Option<int>("--checkpoint-every") { DefaultValueFactory = _ => d.CheckpointEvery };
        var init = new Option<string?>("--init") { Description = "start from these weights (safetensors of the same architecture)" };
        var export = new Option<string?>("--export") { Description = "write the weights of the run's last checkpoint to this safetensors file and stop (no training)" };
        var logEvery = new Option<int>("--log-every") { Description = "print a line every K steps when output is not a terminal", DefaultValueFactory = _ => 50 };
        var cmd = new Command("train", "train a CamVid segmentation net (ENet's weighted cross entropy, Adam, cosine schedule, augmentation); resumable")
        {
            run, resume, arch, width, steps, batch, crop, scale, inputScale, jitter, lr, wd, warmup, seed, validateEvery, validationImages, checkpointEvery, init, export, logEvery,
        };
        cmd.SetAction(p => Cli.Guard(p, () =>
        {
            var runDir = p.GetValue(run)!;
            if (p.GetValue(export) is string exportPath)
            {
                long at = SegmentationTrainer.Export(runDir, exportPath);
                Console.WriteLine($"{exportPath}: weights of {runDir} at step {at}");
                return 0;
            }
            SegmentationTrainer trainer;
            if (p.GetValue(resume))
            {
                trainer = SegmentationTrainer.Resume(runDir, p.GetResult(steps) is { Implicit: false } ? p.GetValue(steps) : null);
            }
            else
            {
                var (cw, ch) = ParseCrop(p.GetValue(crop)!);
                var (smin, smax) = ParseRange(p.GetValue(scale)!);
                var options = new SegmentationTrainOptions
                {
                    Architecture = p.GetValue(arch)!, ResNetWidth = p.GetValue(width),
                    DataRoot = Path.GetFullPath(DataRoot.Resolve(p.GetValue(Cli.DataOption))),
                    Steps = p.GetValue(steps), Batch = p.GetValue(batch), CropWidth = cw, CropHeight = ch, ScaleMin = smin, ScaleMax = smax,
                    InputScale = p.GetValue(inputScale), Jitter = p.GetValue(jitter), LearningRate = p.GetValue(lr), WeightDecay = p.GetValue(wd),
                    WarmupSteps = p.GetValue(warmup), Seed = p.GetValue(seed), ValidateEvery = p.GetValue(validateEvery),
                    ValidationImages = p.GetValue(validationImages), CheckpointEvery = p.GetValue(checkpointEvery),
                    Init = p.GetValue(init) is string i ? Path.GetFullPath(i) : null,
                };
                trainer = SegmentationTrainer.Start(options, runDir);
            }
            using (trainer)
            {
                var started = DateTime.UtcNow;
                long first = trainer.Step;
                int every = Math.Max(1, p.GetValue(logEvery));
                string Describe(SegmentationTrainStep s) => string.Create(CultureInfo.InvariantCulture,
                    $"step {s.Step} loss {s.Loss:F4} lr {s.LearningRate:G3}{(s.ValidationMeanIoU is double v ? $" val mIoU {100 * v:F2} % acc {100 * s.ValidationAccuracy:F1} %" : "")} " +
                    $"{(DateTime.UtcNow - started).TotalSeconds / Math.Max(1, s.Step - first):F3} s/step");
                string last = "";
                TrainingProgress.Run<SegmentationTrainStep>(r => trainer.Run(r), s => s.Step, s => s.ValidationMeanIoU is not null, every, Describe, s =>
                {
                    if (s.ValidationMeanIoU is double v) last = string.Create(CultureInfo.InvariantCulture, $" (val mIoU {100 * v:F1} % at {s.Step})");
                    return Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"step {s.Step} loss {s.Loss:F3} lr {s.LearningRate:G3}{last}"));
                });
                Console.WriteLine($"done: {Path.Combine(runDir, SegmentationTrainer.ModelFile)} after {trainer.Step} steps ({(DateTime.UtcNow - started).TotalMinutes:F1} min this session)");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary><c>WxH</c> or <c>S</c> (square).</summary>
    internal static (int W, int H) ParseCrop(string text)
    {
        var parts = text.Split('x', 'X');
        if (parts.Length is 1 or 2 && parts.All(v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0))
        {
            int w = int.Parse(parts[0], CultureInfo.InvariantCulture);
            return (w, parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : w);
        }
        throw new ArgumentException($"--crop '{text}': give WxH (e.g. 240x176) or one side");
    }

    /// <summary><c>MIN-MAX</c> or one value.</summary>
    internal static (double Min, double Max) ParseRange(string text)
    {
        var parts = text.Split('-');
        var values = parts.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x : double.NaN).ToArray();
        if (parts.Length is 1 or 2 && values.All(double.IsFinite)) return (values[0], values[^1]);
        throw new ArgumentException($"--scale '{text}': give MIN-MAX (e.g. 0.4-0.8) or one value");
    }
}
