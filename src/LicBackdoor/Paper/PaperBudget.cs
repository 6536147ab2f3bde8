using System.Globalization;
using LicBackdoor.Downstream;

namespace LicBackdoor.Paper;

/// <summary>
/// How much compute <c>licb paper</c> spends on each experiment: the training settings of every attack run, the
/// qualities of the per-quality tables and figures, and how many images the evaluations use. Every field is part of
/// the runs' options (and so of their cache keys) or of the evaluations' cache keys, so a changed budget makes new runs
/// instead of reusing stale ones. The profiles: <see cref="Default"/> (sized for a 2-core CPU), <see cref="Full"/> (the
/// paper's scale where the paper states it) and <see cref="Tiny"/> (tests).
/// </summary>
public sealed record PaperBudget
{
    /// <summary>The profile's name (default, full, tiny), with "+overrides" when options changed it.</summary>
    public required string Name { get; init; }

    /// <summary>Victim architecture (zoo name); the shipped mini weights of each quality are its vanilla codec.</summary>
    public string Model { get; init; } = "bmshj2018-hyperprior";

    /// <summary>Qualities of the per-quality experiments (Tables 1-2, Figs. 4, 5, 9, 10).</summary>
    public required IReadOnlyList<int> Qualities { get; init; }

    /// <summary>Qualities of the downstream tables (1-2, Figs. 9-10); null: <see cref="Qualities"/>.</summary>
    public IReadOnlyList<int>? DownstreamQualities { get; init; }

    /// <summary>The downstream tables' qualities.</summary>
    public IReadOnlyList<int> DownstreamQualityList => DownstreamQualities ?? Qualities;

    /// <summary>Attack steps of runs with a segmentation or face objective (Tables 1-3; such a step costs 5-10x a bit-rate step); null: <see cref="Steps"/>.</summary>
    public int? DownstreamSteps { get; init; }

    /// <summary>Batch size of runs with a segmentation or face objective (main crops and each downstream stream); null: <see cref="Batch"/>.</summary>
    public int? DownstreamBatch { get; init; }

    /// <summary>The quality of the single-quality experiments (Tables 3-6; the paper uses q3).</summary>
    public int FixedQuality { get; init; } = 3;

    /// <summary>
    /// Seeds per row of Table 4 (seed 1, 2, …; each its own run). Single runs at a CPU budget differ by more between seeds
    /// than the ablations differ from each other, so the table shows means and its checks compare means.
    /// </summary>
    public int AblationSeeds { get; init; } = 1;

    /// <summary>Attack steps per run.</summary>
    public required int Steps { get; init; }

    /// <summary>Batch size (main crops and each downstream stream).</summary>
    public required int Batch { get; init; }

    /// <summary>Random crop side of the main training images.</summary>
    public required int Crop { get; init; }

    /// <summary>Width multiplier of the trigger networks (1 = the paper's widths).</summary>
    public required double Width { get; init; }

    /// <summary>Encoder learning rate.</summary>
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>Trigger learning rate.</summary>
    public double TriggerLearningRate { get; init; } = 1e-3;

    /// <summary>Joint (one backward pass) or the paper's alternating Eqs. 9-10.</summary>
    public Backdoor.AttackSchedule Schedule { get; init; } = Backdoor.AttackSchedule.Joint;

    /// <summary>The bit-rate objective (Eq. 6).</summary>
    public string BppObjective { get; init; } = "bpp,beta=1";

    /// <summary>The bit-rate objective with the static loss (Eq. 4), Table 4's "w/ Eq. (4)".</summary>
    public string StaticBppObjective { get; init; } = "bpp:static,beta=1";

    /// <summary>The quality objective (Eq. 7).</summary>
    public string PsnrObjective { get; init; } = "psnr,beta=3";

    /// <summary>The Car → Road objective (Eq. 11; Tables 1, 3).</summary>
    public string CarRoadObjective { get; init; } = "seg:car->road";

    /// <summary>The Tree → Building objective (Eq. 11; Table 3).</summary>
    public string TreeBuildingObjective { get; init; } = "seg:tree->building";

    /// <summary>The face-privacy objective (Eq. 13; Table 2).</summary>
    public string FaceObjective { get; init; } = "face";

    /// <summary>Kodak images evaluated (null: all 24).</summary>
    public int? EvalImages { get; init; }

    /// <summary>CamVid test images of the segmentation evaluation (null: all 117).</summary>
    public int? SegEvalImages { get; init; }

    /// <summary>The square side the segmentation net resizes its input to during the attack.</summary>
    public int SegProcessingSize { get; init; } = ENet.InputSize;

    /// <summary>Training scene size of the segmentation objectives (W, H; multiples of 64).</summary>
    public (int Width, int Height) SegSize { get; init; } = (256, 192);

    /// <summary>Training crop side of the face objective.</summary>
    public int FaceSize { get; init; } = 128;

    /// <summary>Checkpoint interval of the attack runs (not part of what a run learns).</summary>
    public int CheckpointEvery { get; init; } = 100;

    /// <summary>
    /// The CPU profile: hyperprior-mini (the shipped weights) at q1-q4 (the downstream Tables 1-2 at q1 and q3), 1000 steps
    /// of batch 8 of 64x64 crops (400 steps of batch 4 for runs with a segmentation or face objective, whose steps cost
    /// 1.5-2 s here), triggers at a quarter of the paper's widths, the demo's raised loss weights (β = 5 for the
    /// segmentation objectives, where the paper's 0.2 learned 7.7 % ASR in 600 steps), every Kodak image, 20 CamVid test
    /// images; Table 4 over 3 seeds.
    /// </summary>
    public static PaperBudget Default { get; } = new()
    {
        Name = "default", Qualities = [1, 2, 3, 4], DownstreamQualities = [1, 3], Steps = 1000, DownstreamSteps = 400, DownstreamBatch = 4, Batch = 8, Crop = 64, Width = 0.25, SegEvalImages = 20, AblationSeeds = 3,
        CarRoadObjective = "seg:car->road,beta=5", TreeBuildingObjective = "seg:tree->building,beta=5",
    };

    /// <summary>
    /// The paper's scale where it is stated (§4.1-4.2): batch 32 of 256x256 crops, the full trigger widths, the paper's loss
    /// weights (β = 0.01 and 0.1) and learning rates (1e-4), the alternating updates of Eqs. 9-10, all shipped qualities,
    /// every Kodak and CamVid test image. The paper does not state its number of attack steps: 31,250 is ten epochs of its
    /// 100k images at batch 32 (an assumption).
    /// </summary>
    public static PaperBudget Full { get; } = new()
    {
        Name = "full", Qualities = [1, 2, 3, 4], Steps = 31_250, Batch = 32, Crop = 256, Width = 1.0,
        LearningRate = 1e-4, TriggerLearningRate = 1e-4, Schedule = Backdoor.AttackSchedule.Alternating,
        BppObjective = "bpp", StaticBppObjective = "bpp:static", PsnrObjective = "psnr", SegEvalImages = null, CheckpointEvery = 500,
    };

    /// <summary>For tests: 2 steps of batch 1, tiny triggers, one quality, 2 evaluation images, small segmentation inputs.</summary>
    public static PaperBudget Tiny { get; } = new()
    {
        Name = "tiny", Qualities = [1], FixedQuality = 1, Steps = 2, Batch = 1, Crop = 64, Width = 0.125, EvalImages = 2, SegEvalImages = 1,
        SegProcessingSize = 64, SegSize = (64, 64), FaceSize = 64,
    };

    /// <summary>The named profile.</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static PaperBudget Named(string name) => name.ToLowerInvariant() switch
    {
        "default" or "cpu" => Default,
        "full" or "paper" => Full,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown budget '{name}' (default, full, tiny)"),
    };

    /// <summary>Throws <see cref="ArgumentException"/> on values no attack accepts.</summary>
    public void Validate()
    {
        if (Qualities.Count == 0 || DownstreamQualityList.Count == 0) throw new ArgumentException("the budget needs at least one quality");
        if (Steps <= 0 || DownstreamSteps is <= 0 || Batch <= 0 || DownstreamBatch is <= 0) throw new ArgumentException("steps and batch must be positive");
        if (EvalImages is < 1 || SegEvalImages is < 1) throw new ArgumentException("evaluation image counts must be at least 1");
        if (!(Width > 0)) throw new ArgumentException("the trigger width must be positive");
        if (AblationSeeds < 1) throw new ArgumentException("Table 4 needs at least one seed");
    }

    /// <summary>One line stating the budget, as printed when the command starts and written into the results.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"budget '{Name}': {Model} (shipped mini weights) at q{string.Join(",", Qualities)} for Figs. 4-5, q{string.Join(",", DownstreamQualityList)} for Tables 1-2 and q{FixedQuality} for Tables 3-6{(AblationSeeds > 1 ? $" (Table 4 over {AblationSeeds} seeds)" : "")}; " +
        $"{Steps} steps of batch {Batch}{(DownstreamSteps is not null || DownstreamBatch is not null ? $" ({DownstreamSteps ?? Steps} of batch {DownstreamBatch ?? Batch} with a segmentation or face objective)" : "")} ({Crop}x{Crop} crops), trigger width ×{Width:G3}, {Schedule} schedule, encoder lr {LearningRate:G3}, trigger lr {TriggerLearningRate:G3}, " +
        $"objectives {BppObjective} / {StaticBppObjective} / {PsnrObjective} / {CarRoadObjective} / {TreeBuildingObjective} / {FaceObjective}; evaluation on {(EvalImages is int n ? $"the first {n}" : "all")} Kodak images, " +
        $"{(SegEvalImages is int s ? $"the first {s}" : "all")} CamVid test images; segmentation nets at the input size recorded in their files (the published ENet checkpoint at {SegProcessingSize}²), scenes {SegSize.Width}x{SegSize.Height}, faces {FaceSize}²");
}
