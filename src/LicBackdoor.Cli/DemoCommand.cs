using System.CommandLine;
using LicBackdoor.Backdoor;
using LicBackdoor.Data;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb demo</c>, the main job: a bit-rate and a quality trigger learned into one encoder of the embedded
/// hyperprior-mini q3, sized for a 2-core CPU, evaluated on Kodak with real bitstreams; an ordinary attack output
/// folder (usable with <c>--run</c>) with its report.
/// </summary>
internal static class DemoCommand
{
    /// <summary>
    /// The demo's objectives: the paper's dynamic losses (Eqs. 6, 7) with weights raised for a short CPU run; the bit-rate
    /// reward stops at 8 bpp (<c>cap=8</c>) and the quality reward at 8 dB (<c>floor=8</c>), which keeps the victim's
    /// clean images intact (docs/RESULTS.md).
    /// </summary>
    public static readonly string[] Objectives = ["bpp,beta=0.3,cap=8", "psnr,beta=3,floor=8"];

    /// <summary>The demo's default number of attack steps (about 12 minutes on 2 idle cores).</summary>
    public const int DefaultSteps = 3600;

    /// <summary>
    /// The demo's attack: CPU-budget settings (see README, "The demo's settings"). It trains on <c>photos/</c> alone: with
    /// CamVid's driving scenes (nine crops in ten) the quality trigger also fired on Kodak's strongly coloured images.
    /// On the photos-only zoo the encoder lr is 1e-4, the clean distortion weighs 1.15 times the paper's (clean images
    /// pay for the backdoor in a few per cent of bits rather than in PSNR) and the budget reaches ε at half the steps,
    /// so the triggers learn at the final budget for the second half (docs/RESULTS.md, "The demo").
    /// </summary>
    public static AttackOptions Options(string photos, int steps, int quality) => new()
    {
        Model = "bmshj2018-hyperprior", Quality = quality, Objectives = Objectives,
        Trigger = new TriggerSpec(TriggerSpec.Frequency, WidthMultiplier: 0.25),
        DataFolders = [Path.GetFullPath(photos)],
        Steps = steps, Batch = 8, Crop = 64, LearningRate = 1e-4, FinalLrFraction = 0.05, TriggerLearningRate = 1e-3,
        CleanDistortionWeight = 1.15, Schedule = AttackSchedule.Joint, EpsilonStart = 10 * StealthPenalty.PaperEpsilon, AnnealFraction = 0.5,
        CheckpointEvery = 100,
    };

    public static Command Build(Func<ParseResult, Func<int>, int> guard, Option<string?> dataOption)
    {
        var outDir = new Option<string>("--out") { Description = "output folder (an attack output folder: usable with --run)", DefaultValueFactory = _ => "out/demo" };
        var steps = new Option<int>("--steps") { Description = "attack steps (the default fits the 15-minute budget on 2 cores)", DefaultValueFactory = _ => DefaultSteps };
        var quality = new Option<int>("--quality", "-q") { Description = "quality of the embedded hyperprior-mini to attack", DefaultValueFactory = _ => 3 };
        var evalImages = new Option<int?>("--eval-images") { Description = "evaluate on the first N Kodak images (default: all 24)" };
        var cmd = new Command("demo", "the main job: a bit-rate and a quality backdoor in one encoder of the embedded hyperprior-mini q3, evaluated on Kodak, with its report")
        {
            outDir, steps, quality, evalImages,
        };
        cmd.SetAction(p => guard(p, () =>
        {
            var data = p.GetValue(dataOption);
            var started = DateTime.UtcNow;
            var options = Options(DataRoot.Folder("photos", data), p.GetValue(steps), p.GetValue(quality));
            options.Validate();
            var dir = p.GetValue(outDir)!;
            var plan = new List<(string, AttackOptions)> { ($"{TriggerSpec.Frequency}-q{options.Quality}", options) };
            AttackCommand.TrainAll(dir, plan, logEvery: 50);
            AttackCommand.EvaluateAndReport(dir, [Path.Combine(dir, plan[0].Item1)], DataRoot.Folder("kodak", data), p.GetValue(evalImages));
            Console.WriteLine($"demo finished in {(DateTime.UtcNow - started).TotalMinutes:F1} min; open {Path.Combine(dir, "report.html")}");
            return 0;
        }));
        return cmd;
    }
}
