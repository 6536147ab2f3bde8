using System.CommandLine;
using System.Globalization;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary><c>licb train</c>: CompressAI's rate-distortion training recipe, resumable.</summary>
internal static class TrainCommand
{
    public static Command Build(Func<ParseResult, Func<int>, int> guard, Option<string?> dataOption)
    {
        var run = new Option<string>("--run") { Description = "run folder (options, checkpoint, log, final model.safetensors)", Required = true };
        var resume = new Option<bool>("--resume") { Description = "continue the run in --run from its last checkpoint" };
        var model = new Option<string>("--model", "-m") { Description = $"architecture: {string.Join(", ", ModelZoo.ModelNames)}", DefaultValueFactory = _ => "bmshj2018-hyperprior" };
        var quality = new Option<int>("--quality", "-q") { Description = "quality index: sets λ (CompressAI's table) and N/M unless given", DefaultValueFactory = _ => 3 };
        var n = new Option<int?>("--n") { Description = "channels N (default: the quality's CompressAI size)" };
        var m = new Option<int?>("--m") { Description = "latent channels M (default: the quality's CompressAI size; for cheng2020-anchor, where CompressAI ties M to N, M ≠ N decouples them)" };
        var mini = new Option<bool>("--mini") { Description = "the CPU-sized configuration (hyperprior-mini: N=64 M=192; cheng2020-anchor-mini: N=64)" };
        var lambda = new Option<double?>("--lambda") { Description = "rate-distortion trade-off λ (default: the quality's)" };
        var steps = new Option<int>("--steps") { Description = "total steps (with --resume: changes the run's total)", DefaultValueFactory = _ => 20000 };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 8 };
        var crop = new Option<int>("--crop") { Description = "random crop side (multiple of 64)", DefaultValueFactory = _ => 128 };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 1e-4 };
        var auxLr = new Option<double>("--aux-lr") { DefaultValueFactory = _ => 1e-3 };
        var clip = new Option<double>("--clip") { Description = "gradient norm clipping (0: off)", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 1UL };
        var folders = new Option<string[]>("--images") { Description = "training image folders (default: <data>/photos and <data>/camvid/train)", AllowMultipleArgumentsPerToken = true };
        var validateEvery = new Option<int>("--validate-every") { DefaultValueFactory = _ => 500 };
        var checkpointEvery = new Option<int>("--checkpoint-every") { DefaultValueFactory = _ => 500 };
        var patience = new Option<int>("--patience") { Description = "validations without improvement before the lr drops 10x", DefaultValueFactory = _ => 10 };
        var init = new Option<string?>("--init") { Description = "start from these weights (safetensors), e.g. another quality's" };
        var widen = new Option<bool>("--widen") { Description = "--init holds a narrower model of this architecture (fewer channels N, same M): widen it so training starts where it stands" };
        var scaleLevels = new Option<int>("--scale-levels") { Description = "levels of the scale table built at the end (CompressAI: 64; 192 keeps real bpp within 1 % of the likelihood)", DefaultValueFactory = _ => 192 };
        var minScale = new Option<double>("--min-scale") { Description = "augmentation: downscale each crop's source square by a random factor in [S, 1] (1: off, CompressAI's crops)", DefaultValueFactory = _ => 1.0 };
        var rotate = new Option<bool>("--rotate") { Description = "augmentation: rotate each crop by a random multiple of 90 degrees" };
        var export = new Option<string?>("--export") { Description = "write the weights of the run's last checkpoint to this safetensors file and stop (no training)" };
        var logEvery = new Option<int>("--log-every") { Description = "print a line every K steps when output is not a terminal", DefaultValueFactory = _ => 100 };
        var cmd = new Command("train", "train a codec (λ·255²·MSE + bpp, aux loss, Adam, clipping, plateau schedule); resumable")
        {
            run, resume, model, quality, n, m, mini, lambda, steps, batch, crop, lr, auxLr, clip, seed, folders, validateEvery, checkpointEvery, patience, init, widen, scaleLevels, minScale, rotate, export, logEvery,
        };
        cmd.SetAction(p => guard(p, () =>
        {
            var runDir = p.GetValue(run)!;
            if (p.GetValue(export) is string exportPath)
            {
                long at = Trainer.Export(runDir, exportPath);
                Console.WriteLine($"{exportPath}: weights of {runDir} at step {at}");
                return 0;
            }
            Trainer trainer;
            if (p.GetValue(resume))
            {
                trainer = Trainer.Resume(runDir, p.GetResult(steps) is { Implicit: false } ? p.GetValue(steps) : null);
            }
            else
            {
                var name = p.GetValue(model)!;
                var entry = ModelZoo.Get(name, p.GetValue(quality));
                if (p.GetValue(mini))
                {
                    var (mn, mm) = ModelZoo.MiniSize(name);
                    entry = entry with { N = mn, M = mm };
                }
                var data = p.GetValue(folders) is { Length: > 0 } given ? given
                    : new[] { DataRoot.Folder("photos", p.GetValue(dataOption)), DataRoot.Folder(Path.Combine("camvid", "train"), p.GetValue(dataOption)) };
                var options = new TrainOptions
                {
                    Model = name, Quality = entry.Quality, N = p.GetValue(n) ?? entry.N,
                    // cheng2020-anchor ties M to N unless --m says otherwise (CompressAI has no M for it)
                    M = p.GetValue(m) ?? (name == Cheng2020Anchor.Name && p.GetValue(n) is int givenN ? givenN : entry.M),
                    Lambda = p.GetValue(lambda) ?? entry.LambdaMse, DataFolders = data.Select(Path.GetFullPath).ToArray(),
                    Steps = p.GetValue(steps), Batch = p.GetValue(batch), Crop = p.GetValue(crop), LearningRate = p.GetValue(lr),
                    AuxLearningRate = p.GetValue(auxLr), ClipMaxNorm = p.GetValue(clip), Seed = p.GetValue(seed),
                    ValidateEvery = p.GetValue(validateEvery), CheckpointEvery = p.GetValue(checkpointEvery), Patience = p.GetValue(patience),
                    Init = p.GetValue(init) is string i ? Path.GetFullPath(i) : null, WidenInit = p.GetValue(widen),
                    ScaleLevels = p.GetValue(scaleLevels),
                    MinScale = p.GetValue(minScale), Rotate = p.GetValue(rotate),
                };
                trainer = Trainer.Start(options, runDir);
            }
            using (trainer)
            {
                var started = DateTime.UtcNow;
                long first = trainer.Step;
                int every = Math.Max(1, p.GetValue(logEvery));
                string Line(TrainStep s) => string.Create(CultureInfo.InvariantCulture,
                    $"step {s.Step} loss {s.Loss:F4} bpp {s.Bpp:F4} mse {s.Mse:F6} aux {s.Aux:F1} lr {s.LearningRate:G3}{(s.ValidationLoss is double v ? $" val {v:F4}" : "")} " +
                    $"{(DateTime.UtcNow - started).TotalSeconds / Math.Max(1, s.Step - first):F3} s/step");
                TrainingProgress.Run<TrainStep>(r => trainer.Run(r), s => s.Step, s => s.ValidationLoss is not null, every, Line,
                    s => string.Create(CultureInfo.InvariantCulture, $"step {s.Step} loss {s.Loss:F3} bpp {s.Bpp:F3} mse {s.Mse:F5} aux {s.Aux:F0}"));
                Console.WriteLine($"done: {Path.Combine(runDir, Trainer.ModelFile)} after {trainer.Step} steps ({(DateTime.UtcNow - started).TotalMinutes:F1} min this session)");
            }
            return 0;
        }));
        return cmd;
    }
}
