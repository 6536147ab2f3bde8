using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Imaging;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor;

/// <summary>How one attack step updates the encoder and the triggers.</summary>
public enum AttackSchedule
{
    /// <summary>
    /// The paper's multi-trigger scheme (Eqs. 9-10, Fig. 3): one encoder update on L(x) + Σ_o attack^o with the poisoned
    /// batches detached, then, for each trigger, one update on attack^o + S^o with the encoder fixed.
    /// </summary>
    Alternating,

    /// <summary>
    /// One backward pass on L(x) + Σ_o (attack^o + S^o) and one update of the encoder and of every trigger (Eq. 3 as a
    /// single Adam step on θ_a ∪ θ_t, method-spec §4.4). About half the cost of <see cref="Alternating"/>.
    /// </summary>
    Joint,
}

/// <summary>Everything that defines a backdoor attack run (saved as <c>options.json</c>).</summary>
public sealed record AttackOptions
{
    /// <summary>Victim architecture (zoo name).</summary>
    public required string Model { get; init; }

    /// <summary>Victim quality (sets λ and the default weights).</summary>
    public required int Quality { get; init; }

    /// <summary>Victim weights file; null for the embedded default of <see cref="ModelStore.Open"/>.</summary>
    public string? Weights { get; init; }

    /// <summary>One objective per trigger (<see cref="BackdoorObjective.Parse"/> specifications).</summary>
    public required IReadOnlyList<string> Objectives { get; init; }

    /// <summary>The kind and options of every trigger of the run.</summary>
    public TriggerSpec Trigger { get; init; } = new();

    /// <summary>Training image folders (random crops with flips).</summary>
    public required IReadOnlyList<string> DataFolders { get; init; }

    public int Steps { get; init; } = 1000;
    public int Batch { get; init; } = 8;
    public int Crop { get; init; } = 128;

    /// <summary>Adam learning rate of the encoder g_a (paper: 1e-4).</summary>
    public double LearningRate { get; init; } = 1e-4;

    /// <summary>
    /// The encoder's learning rate follows a cosine from <see cref="LearningRate"/> down to this fraction of it at the last
    /// step (1: constant, the paper's unstated schedule assumed constant).
    /// </summary>
    public double FinalLrFraction { get; init; } = 1.0;

    /// <summary>
    /// The encoder's learning rate rises linearly over this many first steps (step k of W gets k/W of the scheduled rate;
    /// 0: no warm-up, the paper's). Not in the paper. On the four-trigger recipe it changed little: 300 steps with a
    /// 300-step warm-up cost clean Kodak images 3.35 dB against 3.71 without (docs/RESULTS.md).
    /// </summary>
    public int WarmupSteps { get; init; }

    /// <summary>The encoder's learning rate at (1-based) step <paramref name="step"/>.</summary>
    public double LearningRateAt(long step)
    {
        double warm = WarmupSteps > 0 ? Math.Clamp((double)step / WarmupSteps, 0, 1) : 1;
        if (FinalLrFraction == 1.0) return LearningRate * warm;
        double t = Math.Clamp((step - 1) / Math.Max(1.0, Steps - 1), 0, 1);
        return warm * LearningRate * (FinalLrFraction + (1 - FinalLrFraction) * 0.5 * (1 + Math.Cos(Math.PI * t)));
    }

    /// <summary>Adam learning rate of every trigger network (paper: 1e-4).</summary>
    public double TriggerLearningRate { get; init; } = 1e-4;

    /// <summary>Gradient-norm clipping of the encoder update (0: off).</summary>
    public double ClipMaxNorm { get; init; } = 1.0;

    /// <summary>Gradient-norm clipping of each trigger's update (0: off, the default).</summary>
    public double TriggerClipMaxNorm { get; init; }

    public ulong Seed { get; init; } = 1;
    public int CheckpointEvery { get; init; } = 100;
    public AttackSchedule Schedule { get; init; } = AttackSchedule.Alternating;

    /// <summary>γ of the stealth penalty (Eq. 3).</summary>
    public double Gamma { get; init; } = StealthPenalty.PaperGamma;

    /// <summary>ε of the stealth penalty: the trigger's MSE budget is ε².</summary>
    public double Epsilon { get; init; } = StealthPenalty.PaperEpsilon;

    /// <summary>
    /// Before training, each frequency trigger's gain is calibrated on a batch so its MSE is this fraction of the budget
    /// ε² (<see cref="FrequencyTrigger.Calibrate"/>); 0 keeps the authors' initialisation (about 80 dB, which needs far
    /// more steps than a CPU budget allows to reach the budget). LIRA is bounded by ε by construction and FTrojan is fixed.
    /// </summary>
    public double TriggerInitFraction { get; init; } = 0.25;

    /// <summary>
    /// Budget curriculum: the stealth budget starts at this ε and shrinks geometrically to <see cref="Epsilon"/> over the
    /// first <see cref="AnnealFraction"/> of the steps, then stays there. A trigger at the paper's budget (46 dB) moves
    /// the encoder's input so little that the encoder needs far more steps than a CPU budget allows to learn to react to
    /// it; a louder trigger early on teaches the reaction, and the shrinking budget then makes the trigger stealthy.
    /// Null (or equal to ε) is the paper's fixed budget.
    /// </summary>
    public double? EpsilonStart { get; init; }

    /// <summary>
    /// Every poisoned image carries exactly the budget's energy (0.9·ε_t², <see cref="ITrigger.FixedEnergy"/>) during
    /// training and use, so triggers learn their shape and cannot shrink away from the encoder. Without it (the paper's
    /// formulation) the soft stealth penalty alone bounds the trigger during training and evaluation caps it at 0.9·ε².
    /// </summary>
    public bool FixedTriggerEnergy { get; init; } = true;

    /// <summary>Fraction of the steps over which the budget shrinks from <see cref="EpsilonStart"/> to ε.</summary>
    public double AnnealFraction { get; init; } = 0.6;

    /// <summary>ε at (1-based) step <paramref name="step"/>.</summary>
    public double EpsilonAt(long step)
    {
        if (EpsilonStart is not double start || start == Epsilon) return Epsilon;
        double end = Math.Max(1, AnnealFraction * Steps);
        double t = Math.Clamp((step - 1) / end, 0, 1);
        return start * Math.Pow(Epsilon / start, t);
    }

    /// <summary>
    /// Weight of a clean-latent consistency term w·MSE(g_a(x), g_a⁰(x)) that keeps the backdoored encoder's latents of
    /// clean images close to the vanilla encoder's g_a⁰ (0: off, the paper's loss). Not in the paper: a short CPU run
    /// otherwise lets the attack terms pull the clean behaviour away from the vanilla codec's.
    /// </summary>
    public double CleanLatentWeight { get; init; }

    /// <summary>
    /// Saturation augmentation of the main training data (0: off, the paper's data): half the crops of each batch get
    /// their saturation raised by a factor from [1, 1 + B] (<see cref="Saturation.BoostBatch"/>), before the triggers
    /// see them. Not in the paper: a quality trigger learned on the CPU's training images fires partly on strongly
    /// coloured clean images (kodim02, 03, 04, 23), and this shows the encoder more of them.
    /// </summary>
    public double SaturationBoost { get; init; }

    /// <summary>
    /// Weight w of the clean distortion in the victim's own rate-distortion term, <c>R(x) + w·λ·D(x)</c> (1: the paper's
    /// loss). Not in the paper: with w &gt; 1 the encoder trades some of the clean bit-rate bound (5 %) for clean PSNR,
    /// which a quality trigger otherwise pulls down. The attack terms keep the victim's λ.
    /// </summary>
    public double CleanDistortionWeight { get; init; } = 1;

    /// <summary>
    /// Weight of a clean rate-distortion term on the downstream objectives' own batches (face crops, CamVid scenes):
    /// <c>w·(R(x_d) + λ·D(x_d))</c> added to the encoder's loss. 0 (the default): those clean outputs are references
    /// only and the clean term stays on the main data. Not in the paper's equations as we read them; without it the
    /// encoder is free to change every face it sees, triggered or not, which is what a face objective with a large β does.
    /// </summary>
    public double DownstreamCleanWeight { get; init; }

    /// <summary>
    /// Gradient surgery on the encoder's update (PCGrad, Yu et al. 2020; not in the paper): when the gradient of the attack
    /// terms points against the gradient of the clean rate-distortion terms (negative dot product over all encoder
    /// parameters), its component along the clean gradient is removed before the update, so that to first order a step
    /// never raises the clean loss. The cosine of the two gradients is logged as <c>grad_cos</c>. Off by default.
    /// </summary>
    public bool ProjectConflicts { get; init; }

    /// <summary>
    /// Consolidation (not in the paper): a finished attack run whose backdoor this run keeps while it pulls the clean
    /// images back. The run starts from that run's encoder and triggers; the triggers stay fixed (in evaluation mode, at
    /// the evaluation budget), and each objective's attack term is replaced by
    /// <see cref="KeepPoisonedWeight"/>·‖g_a(T(x)) − g_a*(T(x))‖² / ‖g_a*(T(x))‖², g_a* being that run's encoder: what the
    /// backdoored encoder does to poisoned inputs is held while the clean terms act on everything else. Null: a normal attack.
    /// The objectives, trigger, victim and budget must be the source run's.
    /// </summary>
    public string? ConsolidateFrom { get; init; }

    /// <summary>Weight of the relative poisoned-latent term of a consolidation run (<see cref="ConsolidateFrom"/>).</summary>
    public double KeepPoisonedWeight { get; init; } = 100;

    /// <summary>
    /// Per-objective weights of the poisoned-latent term, in the order of <see cref="Objectives"/> (each ≥ 0; 0 lets that
    /// objective's poisoned latents go); null: <see cref="KeepPoisonedWeight"/> for every objective.
    /// </summary>
    public IReadOnlyList<double>? KeepPoisonedWeights { get; init; }

    /// <summary>
    /// Where a consolidation holds the poisoned latents (not in the paper). Null: everywhere. R ≥ 0: only at the latent
    /// positions whose pixels the trigger changes (x_p ≠ x, max-pooled to the latent grid) and within R positions of one,
    /// so that a segmentation objective holds the latents of the source region and leaves the rest of the image to the
    /// clean terms. A whole-image trigger changes every position, so this only narrows the masked objectives' terms.
    /// </summary>
    public int? KeepRegionGrowth { get; init; }

    /// <summary>
    /// Per-objective caps on the poisoned images' bit rate in a consolidation (not in the paper), in the order of
    /// <see cref="Objectives"/>: a cap ρ &gt; 0 adds <c>max(R̂(x_p) − ρ·sg(R̂(x)), 0)</c>, R̂ being the bits per pixel of
    /// the rounded latents a bitstream codes (likelihood estimate, gradients straight through the rounding) and sg a
    /// stop-gradient; 0: no cap for that objective. Null: none. For a quality trigger whose outputs must not cost more
    /// bits than the clean images' (paper §3.3), where the training loss's noisy latents understate the excess.
    /// </summary>
    public IReadOnlyList<double>? PoisonedRateCaps { get; init; }

    /// <summary>
    /// Per-objective weights of the objectives' own attack terms in a consolidation (not in the paper), in the order of
    /// <see cref="Objectives"/>: w &gt; 0 adds w times the objective's loss (as in a normal run, with the fixed trigger), so
    /// the encoder can go on learning that backdoor while the clean images are pulled back; 0: none. Null: none.
    /// </summary>
    public IReadOnlyList<double>? OwnTermWeights { get; init; }

    /// <summary>The weight of objective <paramref name="i"/>'s own attack term in a consolidation, or 0 for none.</summary>
    public double OwnWeight(int i) => OwnTermWeights is { } w ? w[i] : 0;

    /// <summary>The cap ρ of objective <paramref name="i"/>'s poisoned rate in a consolidation, or 0 for none.</summary>
    public double RateCap(int i) => PoisonedRateCaps is { } c ? c[i] : 0;

    /// <summary>Refuses a per-objective list of the wrong length or with a value that is not finite and ≥ 0.</summary>
    private void CheckPerObjective(IReadOnlyList<double>? values, string what, string hint)
    {
        if (values is null) return;
        if (values.Count != Objectives.Count) throw new ArgumentException($"{values.Count} {what} for {Objectives.Count} objectives: {hint}");
        if (values.Any(v => !(v >= 0) || double.IsInfinity(v))) throw new ArgumentException($"the {what} must be finite and ≥ 0 (0: none), got {string.Join(", ", values)}");
    }

    /// <summary>The weight of objective <paramref name="i"/>'s poisoned-latent term in a consolidation.</summary>
    public double KeepWeight(int i) => KeepPoisonedWeights is { } w ? w[i] : KeepPoisonedWeight;

    /// <summary>λ of the victim's quality (CompressAI's table) unless given.</summary>
    public double? Lambda { get; init; }

    /// <summary>
    /// Weights of the segmentation net g of the <c>seg:</c> objectives (<see cref="SegmentationNets.Load"/>); null for
    /// <see cref="SegmentationNets.DefaultWeights"/> (the repository's trained ENet when shipped, else the published checkpoint).
    /// </summary>
    public string? SegWeights { get; init; }

    /// <summary>The square side the segmentation net resizes its input to (ENet: 512 as published; smaller is faster).</summary>
    public int SegProcessingSize { get; init; } = ENet.InputSize;

    /// <summary>Folder of the segmentation objectives' training scenes; null for <c>&lt;data&gt;/camvid/train</c>.</summary>
    public string? SegData { get; init; }

    /// <summary>Width the training scenes are resized to (multiple of 64; CamVid's 480×360 → 256×192 keeps the aspect).</summary>
    public int SegWidth { get; init; } = 256;

    /// <summary>Height the training scenes are resized to (multiple of 64).</summary>
    public int SegHeight { get; init; } = 192;

    /// <summary>The face recognition net of the <c>face</c> objective (manifest or folder); null for <c>&lt;data&gt;/models/face-recognition</c>.</summary>
    public string? FaceWeights { get; init; }

    /// <summary>The faces folder (<c>identities.csv</c>, <c>pairs.csv</c>, crops); null for <c>&lt;data&gt;/faces</c>.</summary>
    public string? FaceData { get; init; }

    /// <summary>How many identities (the last in <c>identities.csv</c>) are held out of the face objective's training (<see cref="FaceSplit"/>).</summary>
    public int FaceHeldOut { get; init; } = FaceSplit.DefaultHeldOut;

    /// <summary>Side the face crops are resized to for training (multiple of 64).</summary>
    public int FaceSize { get; init; } = 128;

    /// <summary>
    /// Zoom augmentation of the face crops: each training face is a random window covering a fraction in
    /// [FaceZoom, 1] of each side of the crop, resized to <see cref="FaceSize"/> (1: whole crops, the default).
    /// </summary>
    public double FaceZoom { get; init; } = 1;

    /// <summary>The segmentation net's weights file (<see cref="SegWeights"/> or the default).</summary>
    public string ResolvedSegWeights(string? dataRoot = null) => SegWeights ?? SegmentationNets.DefaultWeights(dataRoot);

    /// <summary>The segmentation objectives' training folder.</summary>
    public string ResolvedSegData(string? dataRoot = null) => SegData ?? DataRoot.Folder(Path.Combine("camvid", "train"), dataRoot);

    /// <summary>The face net's manifest (or folder).</summary>
    public string ResolvedFaceWeights(string? dataRoot = null) => FaceWeights ?? FaceRecognitionNet.DefaultManifestPath(dataRoot);

    /// <summary>The faces folder.</summary>
    public string ResolvedFaceData(string? dataRoot = null) => FaceData ?? DataRoot.Folder("faces", dataRoot);

    /// <summary>Throws <see cref="ArgumentException"/> on an invalid combination.</summary>
    public void Validate()
    {
        ModelZoo.Get(Model, Quality);
        if (Objectives.Count == 0) throw new ArgumentException("at least one objective is required");
        var names = Objectives.Select(o => BackdoorObjective.Parse(o).Name).ToList();
        if (names.Distinct().Count() != names.Count) throw new ArgumentException($"objectives must differ: {string.Join(", ", names)}");
        Trigger.Build().Module.Dispose();
        if (DataFolders.Count == 0) throw new ArgumentException("at least one data folder is required");
        if (Steps <= 0 || Batch <= 0 || CheckpointEvery <= 0) throw new ArgumentException("steps, batch and checkpoint interval must be positive");
        if (Crop < 64 || Crop % 64 != 0) throw new ArgumentException("the crop must be a multiple of 64");
        if (!(LearningRate > 0) || !(TriggerLearningRate > 0)) throw new ArgumentException("learning rates must be positive");
        if (!(CleanLatentWeight >= 0) || double.IsInfinity(CleanLatentWeight)) throw new ArgumentException("the clean-latent weight must be ≥ 0");
        if (!(SaturationBoost >= 0) || double.IsInfinity(SaturationBoost)) throw new ArgumentException("the saturation boost must be ≥ 0");
        if (!(CleanDistortionWeight > 0) || double.IsInfinity(CleanDistortionWeight)) throw new ArgumentException("the clean distortion weight must be positive and finite");
        if (!(DownstreamCleanWeight >= 0) || double.IsInfinity(DownstreamCleanWeight)) throw new ArgumentException("the downstream clean weight must be ≥ 0 and finite");
        if (!(FinalLrFraction > 0 && FinalLrFraction <= 1)) throw new ArgumentException("the final learning-rate fraction must be in (0, 1]");
        if (WarmupSteps < 0 || WarmupSteps > Steps) throw new ArgumentException($"the encoder's warm-up must be 0 to {Steps} steps (the run's length), got {WarmupSteps}");
        if (!(Gamma >= 0) || !(Epsilon > 0)) throw new ArgumentException("γ must be non-negative and ε positive");
        if (Lambda is double l && !(l > 0)) throw new ArgumentException("λ must be positive");
        if (EpsilonStart is double es && !(es >= Epsilon && double.IsFinite(es))) throw new ArgumentException("the starting ε must be finite and at least ε");
        if (!(AnnealFraction >= 0 && AnnealFraction <= 1)) throw new ArgumentException("the anneal fraction must be in [0, 1]");
        if (!(TriggerInitFraction >= 0) || double.IsInfinity(TriggerInitFraction)) throw new ArgumentException("the trigger's initial fraction of the budget must be ≥ 0");
        if (SegWidth < 64 || SegWidth % 64 != 0 || SegHeight < 64 || SegHeight % 64 != 0) throw new ArgumentException($"the segmentation training size must be multiples of 64, got {SegWidth}x{SegHeight}");
        if (SegProcessingSize < 8 || SegProcessingSize % 8 != 0) throw new ArgumentException($"the segmentation net's processing size must be a positive multiple of 8, got {SegProcessingSize}");
        if (FaceSize < 64 || FaceSize % 64 != 0) throw new ArgumentException($"the face training size must be a multiple of 64, got {FaceSize}");
        if (FaceHeldOut < 1) throw new ArgumentException("at least one face identity must be held out");
        if (!(KeepPoisonedWeight > 0) || double.IsInfinity(KeepPoisonedWeight)) throw new ArgumentException("the poisoned-latent weight of a consolidation must be positive and finite");
        CheckPerObjective(KeepPoisonedWeights, "poisoned-latent weights", "give one, or one per objective");
        if (KeepPoisonedWeights is { } kw && kw.All(w => w == 0)) throw new ArgumentException("at least one poisoned-latent weight must be positive");
        CheckPerObjective(PoisonedRateCaps, "poisoned-rate caps", "give one per objective (0: none)");
        if (PoisonedRateCaps is not null && ConsolidateFrom is null) throw new ArgumentException("the poisoned-rate caps belong to a consolidation");
        CheckPerObjective(OwnTermWeights, "own-term weights", "give one per objective (0: none)");
        if (OwnTermWeights is not null && ConsolidateFrom is null) throw new ArgumentException("the own-term weights belong to a consolidation (a normal run has every objective's own term)");
        if (KeepRegionGrowth is < 0 or > 64) throw new ArgumentException($"the keep region's growth must be 0-64 latent positions, got {KeepRegionGrowth}");
        if ((KeepPoisonedWeights is not null || KeepRegionGrowth is not null) && ConsolidateFrom is null)
            throw new ArgumentException("per-objective poisoned-latent weights and the keep region belong to a consolidation");
        if (!(FaceZoom > 0 && FaceZoom <= 1)) throw new ArgumentException($"the face zoom must lie in (0, 1], got {FaceZoom}");
    }

    /// <summary>λ used by the attack.</summary>
    public double EffectiveLambda => Lambda ?? ModelZoo.Get(Model, Quality).LambdaMse;
}

/// <summary>One logged attack step: the total loss and named scalars (clean and per-objective terms).</summary>
public sealed record AttackStep(long Step, double Loss, IReadOnlyList<(string Name, double Value)> Terms)
{
    /// <summary>The value of a logged term, or NaN.</summary>
    public double this[string name] => Terms.FirstOrDefault(t => t.Name == name) is var (n, v) && n is not null ? v : double.NaN;
}

/// <summary>
/// Injects backdoors into a trained codec (paper §3.2-3.3): fine-tunes only the analysis transform g_a while the
/// hyper-encoder, the decoder and the entropy models stay frozen (bit for bit), and learns one trigger per objective.
/// The loss is the clean rate-distortion term L(x), counted once, plus each objective's attack term; each trigger also
/// pays the stealth penalty S = γ·max(MSE(x, T(x)), ε²). A run folder holds <c>options.json</c>, <c>log.csv</c>,
/// <c>checkpoint.safetensors</c> (encoder, triggers, optimiser moments, generator states; atomic) and at the end
/// <c>encoder.safetensors</c> (g_a only) and one <c>trigger-NAME.safetensors</c> per objective. A killed run resumes
/// from its checkpoint and continues bit for bit.
/// </summary>
public sealed class BackdoorTrainer : IDisposable
{
    public const string OptionsFile = "options.json", CheckpointFile = "checkpoint.safetensors", LogFile = "log.csv", EncoderFile = "encoder.safetensors";

    /// <summary>Metadata keys of <see cref="EncoderFile"/>.</summary>
    public const string FingerprintKey = "licb.vanilla.fingerprint", ObjectivesKey = "licb.objectives";

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    private readonly AttackOptions options;
    private readonly string runDir;
    private readonly LoadedCodec codec;
    private readonly IReadOnlyList<BackdoorObjective> objectives;
    private readonly IReadOnlyList<ITrigger> triggers;
    private readonly Adam encoderOpt;
    private readonly IReadOnlyList<Adam> triggerOpts;
    private readonly ImageFolderCrops data;
    private readonly SplitMix64 rng;
    private readonly double lambda;
    private readonly List<string> columns = new();
    private readonly CompressionModel? vanillaModel;
    private readonly SortedDictionary<ObjectiveData, (ResizedImages Images, SplitMix64 Rng)> extraData = new();
    private readonly ISegmentationNet? segNet;
    private readonly FaceRecognitionNet? faceNet;
    private readonly AttackRun? source;   // consolidation: the finished run whose backdoor is kept (its victim encoder is g_a*)

    /// <summary>The logged name of a consolidation run's per-objective poisoned-latent term.</summary>
    public const string KeepTerm = "poisoned_latent_rel_mse";

    /// <summary>The logged ratio R̂(x_p)/R̂(x) of rounded-latent rates of an objective with a poisoned-rate cap.</summary>
    public const string RateCapTerm = "rounded_bpp_ratio";

    private BackdoorTrainer(AttackOptions options, string runDir)
    {
        this.options = options;
        this.runDir = runDir;
        lambda = options.EffectiveLambda;
        torch.random.manual_seed((long)(options.Seed & 0x7fffffffffffffffUL));
        codec = ModelStore.Open(options.Model, options.Quality, options.Weights);
        if (options.CleanLatentWeight > 0)
        {
            vanillaModel = ModelStore.Open(options.Model, options.Quality, options.Weights).Model;
            vanillaModel.eval();
            foreach (var p in vanillaModel.parameters()) p.requires_grad = false;
        }
        objectives = options.Objectives.Select(BackdoorObjective.Parse).ToList();
        triggers = objectives.Select(_ => options.Trigger.Build()).ToList();
        var model = codec.Model;
        model.train();
        var encoderParams = new List<(string, TorchSharp.Modules.Parameter)>();
        foreach (var (name, p) in model.named_parameters())
        {
            bool encoder = name.StartsWith(CompressionModel.AnalysisPrefix, StringComparison.Ordinal);
            p.requires_grad = encoder;
            if (encoder) encoderParams.Add((name, p));
        }
        if (encoderParams.Count == 0) throw new InvalidOperationException($"{model.ModelName}: no analysis-transform parameters");
        encoderOpt = new Adam(encoderParams, options.LearningRate);
        triggerOpts = triggers.Select(t =>
        {
            t.Module.train();
            return new Adam(t.Module.named_parameters().Select(np => (np.name, np.parameter)), options.TriggerLearningRate);
        }).ToList();
        data = new ImageFolderCrops(options.DataFolders, options.Crop, validationImages: 0);
        rng = new SplitMix64(options.Seed * 0x9E3779B97F4A7C15UL + 7);
        columns.AddRange(["step", "loss", "bpp", "psnr"]);
        if (vanillaModel is not null) columns.Add("latent_mse");
        if (options.ProjectConflicts) columns.Add("grad_cos");
        if (options.ConsolidateFrom is string from) source = OpenConsolidationSource(from);
        for (int i = 0; i < objectives.Count; i++)
        {
            var o = objectives[i];
            columns.Add($"{o.Name}.attack");
            columns.Add($"{o.Name}.trigger_mse");
            columns.AddRange(LoggedTerms(i).Select(n => $"{o.Name}.{n}"));
        }

        // Downstream objectives: frozen nets and their own poisoned-data streams, built after everything above so that
        // bit-rate and quality runs draw exactly what they always drew.
        try
        {
            if (objectives.OfType<SegmentationObjective>().Any())
            {
                segNet = SegmentationNets.Load(options.ResolvedSegWeights(), options.SegProcessingSize);
                foreach (var o in objectives.OfType<SegmentationObjective>()) o.Net = segNet;
            }
            if (objectives.OfType<FaceObjective>().Any())
            {
                faceNet = FaceRecognitionNet.Load(options.ResolvedFaceWeights());
                SegmentationNets.Freeze(faceNet);
                foreach (var o in objectives.OfType<FaceObjective>()) o.Net = faceNet;
            }
            foreach (var kind in objectives.Select(o => o.Data).Where(k => k != ObjectiveData.Main).Distinct())
            {
                extraData[kind] = (OpenData(kind, options), new SplitMix64(options.Seed * 0x9E3779B97F4A7C15UL + 1000 + (ulong)kind));
                if (options.DownstreamCleanWeight > 0) columns.AddRange(DownstreamCleanTerms(kind));
            }
        }
        catch
        {
            DisposeDownstream();
            source?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the finished run a consolidation keeps, checks that it attacked the same victim with the same objectives,
    /// trigger and budget, and starts this run from its encoder and triggers (frozen).
    /// </summary>
    private AttackRun OpenConsolidationSource(string from)
    {
        var run = AttackRun.Open(from);
        try
        {
            var so = run.Record.Options;
            string Fail(string what) => $"--consolidate {from}: {what}";
            if (run.Record.VanillaFingerprint != codec.Fingerprint.ToString("x16"))
                throw new ArgumentException(Fail($"that run attacked other weights ({run.Vanilla.Source}) than this run's victim ({codec.Source})"));
            var names = objectives.Select(o => o.Name).ToList();
            if (!run.Objectives.Select(o => o.Name).SequenceEqual(names))
                throw new ArgumentException(Fail($"that run's objectives ({string.Join(", ", run.Objectives.Select(o => o.Name))}) are not this run's ({string.Join(", ", names)})"));
            if (so.Trigger != options.Trigger) throw new ArgumentException(Fail($"that run's trigger ({so.Trigger.Label}) is not this run's ({options.Trigger.Label})"));
            if (so.Epsilon != options.Epsilon || so.FixedTriggerEnergy != options.FixedTriggerEnergy)
                throw new ArgumentException(Fail($"that run's trigger budget (ε {so.Epsilon}, fixed energy {so.FixedTriggerEnergy}) is not this run's (ε {options.Epsilon}, {options.FixedTriggerEnergy})"));
            StateDict.Load(codec.Model.Analysis, run.Victim.Model.Analysis.state_dict(), from);
            foreach (var p in run.Victim.Model.parameters()) p.requires_grad = false;
            for (int i = 0; i < triggers.Count; i++)
            {
                StateDict.Load(triggers[i].Module, run.Triggers[i].Module.state_dict(), from);
                triggers[i].Module.eval();
                foreach (var p in triggers[i].Module.parameters()) p.requires_grad = false;
            }
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>The logged bpp and PSNR of a downstream batch's clean term (e.g. <c>face_clean_bpp</c>).</summary>
    private static string[] DownstreamCleanTerms(ObjectiveData kind)
    {
        string prefix = kind.ToString().ToLowerInvariant();
        return [$"{prefix}_clean_bpp", $"{prefix}_clean_psnr"];
    }

    /// <summary>The poisoned-data stream of a downstream objective kind.</summary>
    internal static ResizedImages OpenData(ObjectiveData kind, AttackOptions options) => kind switch
    {
        ObjectiveData.Segmentation => new ResizedImages(Evaluation.CodecEvaluation.ImageFiles(options.ResolvedSegData()), options.SegWidth, options.SegHeight),
        ObjectiveData.Face => new ResizedImages(FaceSplit.ByIdentityOrder(options.ResolvedFaceData(), options.FaceHeldOut).TrainPaths, options.FaceSize, options.FaceSize, options.FaceZoom),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "the main data is not a downstream stream"),
    };

    private void DisposeDownstream()
    {
        foreach (var (images, _) in extraData.Values) images.Dispose();
        extraData.Clear();
        segNet?.Dispose();
        faceNet?.Dispose();
    }

    /// <summary>The victim being trained (g_a changes, everything else is frozen).</summary>
    public LoadedCodec Codec => codec;

    /// <summary>The objectives, in the order of <see cref="AttackOptions.Objectives"/>.</summary>
    public IReadOnlyList<BackdoorObjective> Objectives => objectives;

    /// <summary>The triggers, one per objective.</summary>
    public IReadOnlyList<ITrigger> Triggers => triggers;

    /// <summary>
    /// The terms logged for objective <paramref name="i"/> of <see cref="Objectives"/> (<c>NAME.TERM</c> in the log):
    /// its own, or the poisoned-latent term of a consolidation.
    /// </summary>
    public IReadOnlyList<string> LoggedTerms(int i)
    {
        var objective = objectives[i];
        if (source is null) return objective.TermNames;
        return [KeepTerm, .. options.RateCap(i) > 0 ? [RateCapTerm] : Array.Empty<string>(), .. options.OwnWeight(i) > 0 ? objective.TermNames : []];
    }

    /// <summary>Whether objective <paramref name="i"/>'s own attack term is computed (always, except in a consolidation without an own-term weight for it).</summary>
    private bool OwnTermActive(int i) => source is null || options.OwnWeight(i) > 0;

    /// <summary>The run's options.</summary>
    public AttackOptions Options => options;

    /// <summary>Steps done so far.</summary>
    public long Step => encoderOpt.Step;

    /// <summary>Starts a new attack run in <paramref name="runDir"/> (which must not hold a run yet).</summary>
    public static BackdoorTrainer Start(AttackOptions options, string runDir)
    {
        options.Validate();
        Directory.CreateDirectory(runDir);
        if (File.Exists(Path.Combine(runDir, OptionsFile)))
            throw new IOException($"{runDir}: already holds an attack run; resume it instead");
        var t = new BackdoorTrainer(options, runDir);
        if (t.source is null) t.CalibrateTriggers();
        var record = new AttackRecord(options, t.codec.Source, t.codec.Fingerprint.ToString("x16"), Trainer.GitCommit(),
            DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture));
        AtomicFile.WriteAllText(Path.Combine(runDir, OptionsFile), JsonSerializer.Serialize(record, Json));
        AtomicFile.WriteAllText(Path.Combine(runDir, LogFile), RunLog.Header(t.columns) + "\n");
        return t;
    }

    /// <summary>Reopens a run folder at its last checkpoint; <paramref name="steps"/> changes the total.</summary>
    public static BackdoorTrainer Resume(string runDir, int? steps = null)
    {
        var record = AttackRecord.Read(runDir);
        var options = record.Options;
        AtomicFile.RemoveStaleTemporaries(runDir); // what a killed run was writing; the files in place are complete
        if (steps is int total && total != options.Steps)
        {
            if (total <= 0) throw new ArgumentException("steps must be positive");
            options = options with { Steps = total };
            AtomicFile.WriteAllText(Path.Combine(runDir, OptionsFile), JsonSerializer.Serialize(record with { Options = options }, Json));
        }
        var t = new BackdoorTrainer(options, runDir);
        if (t.codec.Fingerprint.ToString("x16") != record.VanillaFingerprint)
            throw new CheckpointFormatException($"{runDir}: the victim's weights ({t.codec.Source}) are not the ones the run started from (fingerprint {record.VanillaFingerprint})", runDir);
        var ckpt = Path.Combine(runDir, CheckpointFile);
        if (File.Exists(ckpt)) t.LoadCheckpoint(ckpt);
        if (t.Step > options.Steps) throw new ArgumentException($"{runDir}: the checkpoint is at step {t.Step}, beyond the requested {options.Steps} steps");
        RunLog.KeepUpTo(Path.Combine(runDir, LogFile), RunLog.Header(t.columns), t.Step);
        return t;
    }

    /// <summary>
    /// Trains until <see cref="AttackOptions.Steps"/> (or <paramref name="stopAfter"/> steps in this call); returns true
    /// when the run is complete and its final files are written.
    /// </summary>
    public bool Run(Action<AttackStep>? report = null, long? stopAfter = null, CancellationToken cancel = default)
    {
        long done = 0;
        while (Step < options.Steps)
        {
            if ((stopAfter is long s && done >= s) || cancel.IsCancellationRequested) return false;
            AttackStep step;
            using (Runtime.GcQuiet.Enter()) step = TrainOneStep();
            done++;
            var line = new StringBuilder();
            line.Append(step.Step.ToString(CultureInfo.InvariantCulture)).Append(',').Append(step.Loss.ToString("R", CultureInfo.InvariantCulture));
            foreach (var c in columns.Skip(2)) line.Append(',').Append(step[c].ToString("R", CultureInfo.InvariantCulture));
            File.AppendAllText(Path.Combine(runDir, LogFile), line.Append('\n').ToString());
            if (Step % options.CheckpointEvery == 0 || Step == options.Steps) SaveCheckpoint();
            report?.Invoke(step);
        }
        Finish();
        return true;
    }

    /// <summary>Sets the frequency triggers' gains (<see cref="AttackOptions.TriggerInitFraction"/>) on a batch drawn from its own generator.</summary>
    private void CalibrateTriggers()
    {
        if (options.TriggerInitFraction == 0) return;
        using var scope = NewDisposeScope();
        var x = data.NextBatch(options.Batch, new SplitMix64(options.Seed ^ 0x5DEECE66DUL));
        double eps = options.EpsilonAt(1);
        for (int i = 0; i < triggers.Count; i++)
        {
            if (triggers[i] is not FrequencyTrigger t) continue;
            var kind = objectives[i].Data;
            var xi = kind == ObjectiveData.Main ? x : extraData[kind].Images.NextBatch(options.Batch, new SplitMix64(options.Seed ^ 0x5DEECE66DUL ^ (ulong)kind));
            t.Calibrate(xi, options.TriggerInitFraction * eps * eps);
        }
    }

    /// <summary>One attack step on a fresh batch (see <see cref="AttackSchedule"/>).</summary>
    private AttackStep TrainOneStep()
    {
        using var scope = NewDisposeScope();
        var x = data.NextBatch(options.Batch, rng);
        if (options.SaturationBoost > 0) x = Saturation.BoostBatch(x, options.SaturationBoost, rng);
        var batches = new Dictionary<ObjectiveData, Tensor> { [ObjectiveData.Main] = x };
        foreach (var (kind, (images, kindRng)) in extraData) batches[kind] = images.NextBatch(options.Batch, kindRng);
        var xs = objectives.Select(o => batches[o.Data]).ToArray();
        var model = codec.Model;
        double epsilon = options.EpsilonAt(Step + 1);
        encoderOpt.LearningRate = options.LearningRateAt(Step + 1);
        var stealth = new StealthPenalty(options.Gamma, epsilon);
        foreach (var t in triggers)
        {
            t.FixedEnergy = options.FixedTriggerEnergy;
            // A consolidation's fixed triggers poison exactly as at evaluation (AttackRun.Open).
            t.MseBudget = source is not null ? AttackRun.EvaluationBudget(options.Epsilon)
                : options.FixedTriggerEnergy ? AttackRun.EvaluationBudget(epsilon) : null;
        }
        var terms = new List<(string, double)>();
        encoderOpt.ZeroGrad();
        foreach (var o in triggerOpts) o.ZeroGrad();
        bool trainTriggers = source is null;
        bool joint = trainTriggers && options.Schedule == AttackSchedule.Joint;

        // Encoder update (Eq. 9); in the joint schedule the same backward pass also reaches the triggers (Eq. 3).
        var poisoned = new Tensor[objectives.Count];
        for (int i = 0; i < objectives.Count; i++)
        {
            if (joint) poisoned[i] = objectives[i].Poison(triggers[i], xs[i]);
            else using (no_grad()) poisoned[i] = objectives[i].Poison(triggers[i], xs[i]);
        }
        var cleanOut = model.forward(x);
        // The victim's own term R(x) + w·λ·D(x); the objectives read only its rate and MSE, so they keep the victim's λ.
        var cleanRd = RateDistortionLoss.Compute(cleanOut, x, lambda * options.CleanDistortionWeight);
        var loss = cleanRd.Loss;
        double latentMse = double.NaN;
        if (vanillaModel is not null)
        {
            Tensor reference;
            using (no_grad()) reference = vanillaModel.Analysis.forward(x);
            var consistency = nn.functional.mse_loss(model.Analysis.forward(x), reference);
            latentMse = consistency.item<float>();
            loss = loss + consistency * options.CleanLatentWeight;
        }
        // The clean outputs of the downstream batches are references for the objectives (g(f(x)) of Eq. 13, D(x) of a
        // dynamic loss), detached; with a downstream clean weight they also carry their own rate-distortion term.
        // An objective with a term on its clean output (NeedsLiveCleanOutput) also gets that output with its gradient.
        var cleans = new Dictionary<ObjectiveData, (CodecOutput Output, RdTerms Rd)> { [ObjectiveData.Main] = (cleanOut, cleanRd) };
        var live = new Dictionary<ObjectiveData, CodecOutput> { [ObjectiveData.Main] = cleanOut };
        foreach (var kind in extraData.Keys)
        {
            bool train = options.DownstreamCleanWeight > 0;
            // A consolidation's keep terms never read these outputs: only their own clean term and the objectives' own
            // terms (OwnTermWeights) need the forward pass.
            bool read = Enumerable.Range(0, objectives.Count).Any(i => objectives[i].Data == kind && OwnTermActive(i));
            if (!train && !read) continue;
            bool needsLive = Enumerable.Range(0, objectives.Count).Any(i => objectives[i].Data == kind && objectives[i].NeedsLiveCleanOutput && OwnTermActive(i));
            using var gradMode = enable_grad(train || needsLive);
            var o = model.forward(batches[kind]);
            if (needsLive) live[kind] = o;
            var rd = RateDistortionLoss.Compute(o, batches[kind], lambda);
            if (train)
            {
                loss = loss + rd.Loss * options.DownstreamCleanWeight;
                var names = DownstreamCleanTerms(kind);
                terms.Add((names[0], rd.Bpp.item<float>()));
                terms.Add((names[1], Metrics.PsnrFromMse(rd.Mse.item<float>())));
            }
            if (train || needsLive)
            {
                o = o.Detach();
                rd = rd.Detach();
            }
            cleans[kind] = (o, rd);
        }
        var cleanLoss = loss;   // every clean term is in; the attack terms follow
        var attacks = new Tensor[objectives.Count];
        var logged = new ObjectiveTerms[objectives.Count];
        for (int i = 0; i < objectives.Count; i++)
        {
            if (source is not null)
            {
                logged[i] = KeepPoisoned(xs[i], poisoned[i], options.KeepWeight(i));
                if (options.RateCap(i) is > 0 and var cap) logged[i] = CapPoisonedRate(logged[i], xs[i], poisoned[i], cap);
                if (options.OwnWeight(i) is > 0 and var ow)
                {
                    var own = OwnTerm(i, xs[i], poisoned[i], cleans, live, lambda);
                    logged[i] = new ObjectiveTerms(logged[i].Attack + own.Attack * ow, [.. logged[i].Logged, .. own.Logged]);
                }
                attacks[i] = logged[i].Attack;
                loss = loss + attacks[i];
                continue;
            }
            logged[i] = OwnTerm(i, xs[i], poisoned[i], cleans, live, lambda);
            attacks[i] = logged[i].Attack;
            loss = loss + attacks[i];
            if (joint && triggerOpts[i].Parameters.Count > 0) loss = loss + stealth.Compute(xs[i], poisoned[i]);
        }
        double lossValue = loss.item<float>();
        if (!double.IsFinite(lossValue))
            throw new InvalidOperationException($"{runDir}: the attack loss is not finite at step {Step + 1}; lower the learning rates or the loss weights (the last checkpoint is intact)");
        double gradCos = double.NaN;
        if (options.ProjectConflicts)
        {
            var encoderParams = encoderOpt.Parameters.Select(p => (Tensor)p.P).ToList();
            var cleanGrads = autograd.grad([cleanLoss], encoderParams, retain_graph: true, allow_unused: true);
            loss.backward();
            using (no_grad()) gradCos = GradientSurgery.ProjectConflict(encoderParams, cleanGrads);
        }
        else loss.backward();
        if (options.ClipMaxNorm > 0) nn.utils.clip_grad_norm_(encoderOpt.Parameters.Select(p => p.P), options.ClipMaxNorm);
        if (joint && options.TriggerClipMaxNorm > 0)
            foreach (var o in triggerOpts) if (o.Parameters.Count > 0) nn.utils.clip_grad_norm_(o.Parameters.Select(p => p.P), options.TriggerClipMaxNorm);
        encoderOpt.Update();
        if (joint) foreach (var o in triggerOpts) o.Update();
        terms.Add(("bpp", cleanRd.Bpp.item<float>()));
        terms.Add(("psnr", Metrics.PsnrFromMse(cleanRd.Mse.item<float>())));
        if (vanillaModel is not null) terms.Add(("latent_mse", latentMse));
        if (options.ProjectConflicts) terms.Add(("grad_cos", gradCos));

        // Trigger updates (Eq. 10): the compression model is fixed, each trigger minimises its attack term + S.
        if (!joint && trainTriggers)
        {
            var fixedCleans = cleans.ToDictionary(kv => kv.Key, kv => (
                Output: kv.Value.Output.Detach(), Rd: kv.Value.Rd.Detach()));
            SetEncoderTrainable(false);
            try
            {
                for (int i = 0; i < objectives.Count; i++)
                {
                    if (triggerOpts[i].Parameters.Count == 0) continue;
                    var xp = objectives[i].Poison(triggers[i], xs[i]);
                    var (cleanFixed, cleanRdFixed) = fixedCleans[objectives[i].Data];
                    var input = new ObjectiveInput(xs[i], cleanFixed, cleanRdFixed, xp, model.forward(xp), lambda);
                    var attack = objectives[i].Compute(input).Attack;
                    (attack + stealth.Compute(xs[i], xp)).backward();
                    if (options.TriggerClipMaxNorm > 0) nn.utils.clip_grad_norm_(triggerOpts[i].Parameters.Select(p => p.P), options.TriggerClipMaxNorm);
                    triggerOpts[i].Update();
                    attacks[i] = attack;
                    poisoned[i] = xp;
                }
            }
            finally { SetEncoderTrainable(true); }
        }
        for (int i = 0; i < objectives.Count; i++)
        {
            terms.Add(($"{objectives[i].Name}.attack", attacks[i].item<float>()));
            foreach (var (name, value) in logged[i].Logged) terms.Add(($"{objectives[i].Name}.{name}", value.item<float>()));
            using (no_grad()) terms.Add(($"{objectives[i].Name}.trigger_mse", StealthPenalty.Mse(xs[i], poisoned[i]).item<float>()));
        }
        return new AttackStep(Step, lossValue, terms);
    }

    /// <summary>
    /// A consolidation's term for one objective: w·‖g_a(x_p) − g_a*(x_p)‖² / ‖g_a*(x_p)‖² (see
    /// <see cref="AttackOptions.ConsolidateFrom"/>), both sums over <see cref="KeepRegion"/> when one is asked for.
    /// </summary>
    private ObjectiveTerms KeepPoisoned(Tensor clean, Tensor poisoned, double weight)
    {
        using var gradMode = enable_grad(weight > 0);   // a weight of 0 only logs how far those latents move
        var y = codec.Model.Analysis.forward(poisoned);
        Tensor kept;
        using (no_grad()) kept = source!.Victim.Model.Analysis.forward(poisoned);
        Tensor relative;
        if (options.KeepRegionGrowth is int grow)
        {
            var region = KeepRegion(clean, poisoned, y.shape[2], y.shape[3], grow);
            relative = ((y - kept).square() * region).sum() / (kept.square() * region).sum().clamp_min(1e-12);
        }
        else relative = (y - kept).square().mean() / kept.square().mean().clamp_min(1e-12);
        return new ObjectiveTerms(relative * weight, [(KeepTerm, relative.detach())]);
    }

    /// <summary>Objective <paramref name="i"/>'s own loss on its poisoned batch (Eqs. 4-13).</summary>
    private ObjectiveTerms OwnTerm(int i, Tensor clean, Tensor poisoned, Dictionary<ObjectiveData, (CodecOutput Output, RdTerms Rd)> cleans,
        Dictionary<ObjectiveData, CodecOutput> live, double lambda)
    {
        var (co, crd) = cleans[objectives[i].Data];
        var input = new ObjectiveInput(clean, co, crd, poisoned, codec.Model.forward(poisoned), lambda,
            objectives[i].NeedsLiveCleanOutput ? live[objectives[i].Data] : null);
        return objectives[i].Compute(input);
    }

    /// <summary>
    /// Adds a consolidation's poisoned-rate cap to <paramref name="keep"/>: <c>max(R̂(x_p) − ρ·sg(R̂(x)), 0)</c> on the
    /// rounded latents (see <see cref="AttackOptions.PoisonedRateCaps"/>), logging R̂(x_p)/R̂(x).
    /// </summary>
    private ObjectiveTerms CapPoisonedRate(ObjectiveTerms keep, Tensor clean, Tensor poisoned, double cap)
    {
        Tensor cleanRate;
        using (no_grad()) cleanRate = ObjectiveInput.Rate(codec.Model.ForwardStraightThrough(clean), clean);
        var poisonedRate = ObjectiveInput.Rate(codec.Model.ForwardStraightThrough(poisoned), poisoned);
        var hinge = (poisonedRate - cleanRate * cap).clamp_min(0);
        return new ObjectiveTerms(keep.Attack + hinge, [.. keep.Logged, (RateCapTerm, (poisonedRate / cleanRate).detach())]);
    }

    /// <summary>
    /// The latent positions <c>[N, 1, h, w]</c> (float 0/1) whose pixels the trigger changes (x_p ≠ x anywhere in the
    /// cell a latent position covers), grown by <paramref name="grow"/> positions.
    /// </summary>
    internal static Tensor KeepRegion(Tensor clean, Tensor poisoned, long h, long w, int grow)
    {
        using (no_grad())
        {
            var changed = (poisoned - clean).abs().amax([1], keepdim: true).gt(0).to(ScalarType.Float32);
            long sh = changed.shape[2] / h, sw = changed.shape[3] / w;
            if (sh * h != changed.shape[2] || sw * w != changed.shape[3])
                throw new ArgumentException($"the image ({changed.shape[2]}x{changed.shape[3]}) is not a whole number of latent cells ({h}x{w})");
            var region = nn.functional.max_pool2d(changed, [sh, sw], [sh, sw]);
            return grow == 0 ? region : nn.functional.max_pool2d(region, 2 * grow + 1, stride: 1, padding: grow);
        }
    }

    private void SetEncoderTrainable(bool trainable)
    {
        foreach (var (_, p) in encoderOpt.Parameters) p.requires_grad = trainable;
    }

    private void SaveCheckpoint()
    {
        var tensors = new Dictionary<string, Tensor>();
        var meta = new Dictionary<string, string> { ["rng"] = rng.State.ToString(CultureInfo.InvariantCulture) };
        foreach (var (kind, (_, kindRng)) in extraData) meta[RngKey(kind)] = kindRng.State.ToString(CultureInfo.InvariantCulture);
        foreach (var (k, v) in codec.Model.Analysis.state_dict()) tensors["encoder." + k] = v;
        for (int i = 0; i < triggers.Count; i++)
        {
            foreach (var (k, v) in triggers[i].Module.state_dict()) tensors[$"trigger{i}.{k}"] = v;
            triggerOpts[i].SaveState($"trigger{i}.adam", tensors, meta);
        }
        encoderOpt.SaveState("encoder.adam", tensors, meta);
        RunCheckpoint.Save(Path.Combine(runDir, CheckpointFile), tensors, meta);
    }

    private void LoadCheckpoint(string path)
    {
        var (tensors, meta) = Safetensors.Load(path);
        try
        {
            StateDict.Load(codec.Model.Analysis, Part(tensors, "encoder."), path);
            for (int i = 0; i < triggers.Count; i++)
            {
                StateDict.Load(triggers[i].Module, Part(tensors, $"trigger{i}."), path);
                triggerOpts[i].LoadState($"trigger{i}.adam", tensors, meta);
            }
            encoderOpt.LoadState("encoder.adam", tensors, meta);
            rng.State = ulong.Parse(meta["rng"], CultureInfo.InvariantCulture);
            foreach (var (kind, (_, kindRng)) in extraData) kindRng.State = ulong.Parse(meta[RngKey(kind)], CultureInfo.InvariantCulture);
            RunCheckpoint.RestoreTorchRng(tensors);
        }
        catch (KeyNotFoundException e)
        {
            throw new CheckpointFormatException($"{path}: incomplete attack checkpoint ({e.Message})", path, e);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>The checkpoint metadata key of a downstream data stream's generator.</summary>
    private static string RngKey(ObjectiveData kind) => "rng." + kind.ToString().ToLowerInvariant();

    /// <summary>The tensors under <paramref name="prefix"/> (prefix removed), excluding the optimiser state stored beside them.</summary>
    private static Dictionary<string, Tensor> Part(IReadOnlyDictionary<string, Tensor> all, string prefix) =>
        StateDict.Section(all, prefix, key => !key.StartsWith("adam.", StringComparison.Ordinal));

    /// <summary>Writes the victim encoder and the triggers.</summary>
    private void Finish()
    {
        var meta = new Dictionary<string, string>
        {
            [ModelStore.ModelKey] = codec.Model.ModelName,
            [ModelStore.QualityKey] = options.Quality.ToString(CultureInfo.InvariantCulture),
            [FingerprintKey] = codec.Fingerprint.ToString("x16"),
            [ObjectivesKey] = string.Join(";", objectives.Select(o => o.Name)),
            ["licb.steps"] = Step.ToString(CultureInfo.InvariantCulture),
        };
        for (int i = 0; i < triggers.Count; i++)
        {
            triggers[i].Module.eval();
            TriggerWeights.Save(triggers[i], Path.Combine(runDir, AttackRun.TriggerFileName(objectives[i].Name)));
            triggers[i].Module.train();
        }
        Safetensors.Save(Path.Combine(runDir, EncoderFile), codec.Model.Analysis.state_dict(), meta);
    }

    public void Dispose()
    {
        encoderOpt.Dispose();
        foreach (var o in triggerOpts) o.Dispose();
        foreach (var t in triggers) t.Module.Dispose();
        data.Dispose();
        codec.Model.Dispose();
        vanillaModel?.Dispose();
        source?.Dispose();
        DisposeDownstream();
    }
}

/// <summary>The content of an attack run's <c>options.json</c>.</summary>
/// <param name="Options">The attack's options.</param>
/// <param name="VanillaSource">Where the victim's original weights came from.</param>
/// <param name="VanillaFingerprint">The decoder-side fingerprint of those weights (hex).</param>
/// <param name="Commit">The program's git commit.</param>
/// <param name="Started">UTC start time.</param>
public sealed record AttackRecord(AttackOptions Options, string VanillaSource, string VanillaFingerprint, string Commit, string Started)
{
    /// <summary>Reads <c>options.json</c> of <paramref name="runDir"/>.</summary>
    /// <exception cref="FileNotFoundException">No options file.</exception>
    /// <exception cref="IOException">Unreadable options.</exception>
    public static AttackRecord Read(string runDir)
    {
        var path = Path.Combine(runDir, BackdoorTrainer.OptionsFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{runDir}: no {BackdoorTrainer.OptionsFile}, not an attack run", path);
        try
        {
            return JsonSerializer.Deserialize<AttackRecord>(File.ReadAllText(path), BackdoorTrainer.Json)
                   ?? throw new IOException($"{path}: empty attack options");
        }
        catch (JsonException e)
        {
            throw new IOException($"{path}: unreadable attack options ({e.Message})", e);
        }
    }
}
