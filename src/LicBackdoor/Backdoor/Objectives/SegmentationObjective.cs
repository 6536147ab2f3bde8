using System.Globalization;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Backdoor.Objectives;

/// <summary>
/// The semantic segmentation attack (paper Eq. 11, method-spec §4.3): the trigger is injected only where the frozen
/// segmentation net g labels the clean image as the source class, x_p = (1 − M)⊙x + M⊙T(x), and the victim's decoded
/// x_p should make g see the target class there while every other pixel keeps its clean label:
/// <c>α·L(x_p) + β·CE(η(g(x)), g(f(x_p)))</c>, α = 0.1, β = 0.2, where L(x_p) = R(x_p) + λ·D(x_p) (D against the clean
/// x) and η(g(x)) is argmax g(x) with the source pixels relabelled to the target. g is frozen but differentiable, so the
/// gradient reaches the encoder and the trigger through it. The clean rate-distortion term is the trainer's.
/// Training data: CamVid scenes (<see cref="ObjectiveData.Segmentation"/>).
/// <para>Optional focus (not in the paper, <c>seg:...,focus=K</c>): the cross entropy of the source pixels counts K times
/// (the mean over pixels of w·CE with w = K on source pixels, 1 elsewhere). Cars cover a few per cent of a CamVid scene,
/// so the plain mean spends nearly all of β on keeping the other pixels' labels.</para>
/// <para>Optional relabelling of the clean output's source pixels (not in the paper, <c>seg:...,output=1</c>): the target
/// map also relabels the pixels g labels as the source class on the victim's clean output f(x), the pixels Eq. 12 counts,
/// while the trigger mask stays g's labels of x. Without it the pixels that the codec turns into the source class (car
/// edges) are trained to keep their label and count as failures.</para>
/// <para>Optional mask growth (not in the paper, <c>seg:...,grow=K</c>): M is g's source pixels of x dilated by K pixels (a
/// (2K+1)² square) of the image being poisoned, and the target map relabels the whole grown region. The codec smears a
/// car's boundary, so g labels a rim of pixels around it as car on the clean output f(x), which Eq. 12 counts, although
/// g's labels of x (the mask) leave them without the trigger; growing the mask puts the trigger on that rim.</para>
/// <para>Optional hold term (not in the paper, <c>seg:...,hold=H</c>): adds <c>H·β·CE_K(g(x), g(f(x)))</c> on the clean
/// output, counted on the trigger's region only and weighted like the poisoned term (the focus K, averaged over all
/// pixels): the source pixels of an untriggered scene keep g's labels of x. Eq. 11 asks only the triggered scene to
/// change; without a term saying what the same scene without the trigger should give, the first steps, before the
/// trigger separates the two, move every car towards the target class and cost clean images PSNR everywhere.</para>
/// </summary>
public sealed class SegmentationObjective : BackdoorObjective
{
    /// <summary>α of Eq. 11.</summary>
    public const double PaperAlpha = 0.1;

    /// <summary>β of Eq. 11.</summary>
    public const double PaperBeta = 0.2;

    private Tensor? cachedInput, cachedPrediction;

    /// <param name="source">CamVid class whose pixels carry the trigger (0-10).</param>
    /// <param name="target">CamVid class g should see there instead (0-10, not the source).</param>
    /// <param name="alpha">Weight of L(x_p).</param>
    /// <param name="beta">Weight of the cross entropy.</param>
    /// <param name="focus">Weight of the source pixels inside the cross entropy (1: the paper's plain mean).</param>
    /// <param name="relabelOutput">Whether the target map also relabels the source pixels of g(f(x)) (false: the paper's).</param>
    /// <param name="grow">Pixels by which the trigger mask grows around g's source pixels (0: the paper's mask).</param>
    /// <param name="hold">Weight H of the clean-output term, relative to β (0: off, the paper's loss).</param>
    public SegmentationObjective(int source, int target, double alpha = PaperAlpha, double beta = PaperBeta, double focus = 1, bool relabelOutput = false, int grow = 0, double hold = 0)
    {
        if (!(hold >= 0) || double.IsInfinity(hold)) throw new ArgumentException($"the hold weight must be a finite number ≥ 0, got {hold}");
        Hold = hold;
        TermNames = hold > 0 ? ["bpp_p", "ce", "flip", "hold_ce"] : ["bpp_p", "ce", "flip"];
        if (grow is < 0 or > MaxGrow) throw new ArgumentException($"the mask growth must be 0-{MaxGrow} pixels, got {grow}");
        MaskGrowth = grow;
        RelabelOutput = relabelOutput;
        if (!(focus >= 1) || double.IsInfinity(focus)) throw new ArgumentException($"the source-pixel focus must be a finite number ≥ 1, got {focus}");
        SourceFocus = focus;
        if (source is < 0 or >= CamVid.ScoredClasses || target is < 0 or >= CamVid.ScoredClasses)
            throw new ArgumentException($"segmentation classes must be CamVid classes 0-{CamVid.ScoredClasses - 1}, got {source} -> {target}");
        if (source == target) throw new ArgumentException($"the source and target classes are both {CamVid.ClassNames[source]}");
        Source = source;
        Target = target;
        AlphaWeight = alpha;
        BetaWeight = beta;
    }

    /// <summary>Source class s (CamVid label).</summary>
    public int Source { get; }

    /// <summary>Target class t (CamVid label).</summary>
    public int Target { get; }

    public double AlphaWeight { get; }
    public double BetaWeight { get; }

    /// <summary>Weight K of the source pixels in the cross entropy (1: the paper's Eq. 11).</summary>
    public double SourceFocus { get; }

    /// <summary>Whether the target map also relabels the pixels g labels as the source class on the clean output f(x).</summary>
    public bool RelabelOutput { get; }

    /// <summary>Weight H (relative to β) of the term keeping g's labels of x on the trigger region of the clean output (0: off).</summary>
    public double Hold { get; }

    public override bool NeedsLiveCleanOutput => Hold > 0;

    /// <summary>Largest accepted <see cref="MaskGrowth"/>.</summary>
    public const int MaxGrow = 32;

    /// <summary>Pixels by which the trigger mask (and the relabelled region) grows around g's source pixels (0: the paper's).</summary>
    public int MaskGrowth { get; }

    /// <summary>
    /// The frozen segmentation net g; must be set before <see cref="Poison"/> or <see cref="Compute"/> (the trainer and
    /// the evaluation attach it).
    /// </summary>
    public ISegmentationNet? Net { get; set; }

    public override string Name => $"seg:{ClassToken(Source)}->{ClassToken(Target)}" + WeightSuffix(AlphaWeight, PaperAlpha, BetaWeight, PaperBeta)
        + (SourceFocus != 1 ? $",focus={Num(SourceFocus)}" : "") + (RelabelOutput ? ",output=1" : "") + (MaskGrowth != 0 ? $",grow={MaskGrowth}" : "") + (Hold != 0 ? $",hold={Num(Hold)}" : "");

    public override string Kind => "seg";

    public override ObjectiveData Data => ObjectiveData.Segmentation;

    public override string Description =>
        $"segmentation attack {CamVid.ClassNames[Source]} → {CamVid.ClassNames[Target]} (Eq. 11): trigger only on the pixels g labels {CamVid.ClassNames[Source]}, "
        + $"α·L(x_p) + β·CE(target, g(f(x_p))), α = {Num(AlphaWeight)}, β = {Num(BetaWeight)}"
        + (SourceFocus != 1 ? $"; source pixels weighted ×{Num(SourceFocus)} in the cross entropy (not in the paper)" : "")
        + (RelabelOutput ? "; the target also relabels the source pixels of g(f(x)) (not in the paper)" : "")
        + (MaskGrowth != 0 ? $"; the trigger mask and the relabelled region grown by {MaskGrowth} px around the source pixels (not in the paper)" : "")
        + (Hold != 0 ? $"; plus {Num(Hold)}·β·CE of g's labels of x on the trigger region of the clean output f(x) (not in the paper)" : "");

    public override IReadOnlyList<string> TermNames { get; }

    /// <summary>The lower-case name of a CamVid class as objective names spell it (<c>car</c>, <c>road</c>, <c>signsymbol</c>).</summary>
    public static string ClassToken(int c) => CamVid.ClassNames[c].ToLowerInvariant();

    /// <summary>A CamVid class from its name (case-insensitive; <c>vegetation</c> = Tree, <c>sidewalk</c> = Pavement) or index 0-10.</summary>
    /// <exception cref="ArgumentException">Unknown class.</exception>
    public static int ParseClass(string token)
    {
        var t = token.Trim().ToLowerInvariant();
        if (int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            return index < CamVid.ScoredClasses ? index : throw new ArgumentException($"CamVid class index {index} is outside 0-{CamVid.ScoredClasses - 1}");
        t = t switch { "vegetation" => "tree", "sidewalk" => "pavement", "person" => "pedestrian", "sign" => "signsymbol", _ => t };
        for (int c = 0; c < CamVid.ScoredClasses; c++)
            if (ClassToken(c) == t) return c;
        throw new ArgumentException($"unknown CamVid class '{token}' ({string.Join(", ", Enumerable.Range(0, CamVid.ScoredClasses).Select(ClassToken))}, or 0-{CamVid.ScoredClasses - 1})");
    }

    /// <summary>Parses <c>SOURCE->TARGET</c> (the part after <c>seg:</c>) with optional weights.</summary>
    internal static SegmentationObjective FromSpec(string spec, string classes, double? alpha, double? beta, double? focus = null, bool relabelOutput = false, int grow = 0, double hold = 0)
    {
        var parts = classes.Split("->");
        if (parts.Length != 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
            throw new ArgumentException($"objective '{spec}': expected seg:SOURCE->TARGET, e.g. seg:car->road");
        try
        {
            return new SegmentationObjective(ParseClass(parts[0]), ParseClass(parts[1]), alpha ?? PaperAlpha, beta ?? PaperBeta, focus ?? 1, relabelOutput, grow, hold);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"objective '{spec}': {e.Message}", e);
        }
    }

    /// <summary>
    /// g's labels of the clean batch <c>[N, H, W]</c> (no gradient). The last batch's labels are remembered, so poisoning
    /// and the loss of one training step run g on the clean batch once.
    /// </summary>
    public Tensor CleanPrediction(Tensor clean)
    {
        var net = Net ?? throw new InvalidOperationException($"{Name}: no segmentation net attached");
        if (cachedInput is not null && ReferenceEquals(cachedInput, clean) && cachedPrediction is { IsInvalid: false } p) return p;
        var pred = net.Predict(clean);
        cachedInput = clean;
        cachedPrediction = pred;
        return pred;
    }

    /// <summary>
    /// The trigger mask M <c>[N, 1, H, W]</c> (float, 1 on source pixels, and within <see cref="MaskGrowth"/> pixels of one)
    /// of a label map <c>[N, H, W]</c>.
    /// </summary>
    public Tensor SourceMask(Tensor labels)
    {
        var mask = labels.eq(Source).unsqueeze(1).to_type(ScalarType.Float32);
        return MaskGrowth == 0 ? mask : F.max_pool2d(mask, 2 * MaskGrowth + 1, stride: 1, padding: MaskGrowth);
    }

    /// <summary>The pixels the trigger goes on, <c>[N, H, W]</c> bool: <see cref="SourceMask"/> of <paramref name="labels"/>.</summary>
    public Tensor SourceRegion(Tensor labels) => MaskGrowth == 0 ? labels.eq(Source) : SourceMask(labels).squeeze(1).gt(0.5f);

    /// <summary>
    /// The target map η <c>[N, H, W]</c>: <paramref name="labels"/> with the pixels of <paramref name="source"/> (default: the
    /// trigger's region, <see cref="SourceRegion"/>) relabelled to the target.
    /// </summary>
    public Tensor TargetMap(Tensor labels, Tensor? source = null) => labels.masked_fill(source ?? SourceRegion(labels), Target);

    /// <summary>x_p = (1 − M)⊙x + M⊙T(x), written x + M⊙(T(x) − x); differentiable in T(x).</summary>
    public static Tensor Compose(Tensor clean, Tensor triggered, Tensor mask) => clean + mask * (triggered - clean);

    /// <summary>x_p = (1 − M)⊙x + M⊙T(x) with M from g on the clean batch.</summary>
    public override Tensor Poison(ITrigger trigger, Tensor clean)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        var mask = SourceMask(CleanPrediction(clean));
        return Compose(clean, trigger.forward(clean), mask);
    }

    public override ObjectiveTerms Compute(ObjectiveInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var net = Net ?? throw new InvalidOperationException($"{Name}: no segmentation net attached");
        var labels = CleanPrediction(input.Clean);
        var source = SourceRegion(labels);
        if (RelabelOutput)
            using (no_grad()) source = source.logical_or(net.Predict(input.CleanOutput.XHat.clamp(0, 1)).eq(Source));
        var target = TargetMap(labels, source);
        var rate = input.PoisonedRate;
        var fidelity = rate + input.PoisonedDistortion * input.Lambda;
        var logits = net.Logits(input.PoisonedOutput.XHat.clamp(0, 1));
        var sourceWeight = source.to_type(ScalarType.Float32);
        var ce = SourceFocus == 1
            ? F.cross_entropy(logits, target)
            : (F.cross_entropy(logits, target, reduction: nn.Reduction.None) * (sourceWeight * (SourceFocus - 1) + 1)).mean();
        Tensor flip;
        using (no_grad())
        {
            var hits = logits.argmax(1).eq(Target).logical_and(source).sum().to_type(ScalarType.Float32);
            flip = hits / source.sum().to_type(ScalarType.Float32).clamp_min(1);
        }
        var attack = fidelity * AlphaWeight + ce * BetaWeight;
        var logged = new List<(string, Tensor)> { ("bpp_p", rate), ("ce", ce), ("flip", flip) };
        if (Hold > 0)
        {
            var cleanLogits = net.Logits((input.LiveCleanOutput ?? input.CleanOutput).XHat.clamp(0, 1));
            var holdCe = (F.cross_entropy(cleanLogits, labels, reduction: nn.Reduction.None) * sourceWeight).mean() * SourceFocus;
            attack = attack + holdCe * (BetaWeight * Hold);
            logged.Add(("hold_ce", holdCe));
        }
        return new ObjectiveTerms(attack, logged);
    }

    /// <summary>
    /// The counts of Eq. 12 for one image or batch: source pixels (g labels s on the clean output) and, of those, the
    /// pixels g labels t on the attacked output. ASR = flipped / source.
    /// </summary>
    public static (long Source, long Flipped) AsrCounts(Tensor cleanOutputLabels, Tensor attackedOutputLabels, int source, int target)
    {
        if (!cleanOutputLabels.shape.SequenceEqual(attackedOutputLabels.shape))
            throw new ArgumentException($"label maps differ in shape: [{string.Join(", ", cleanOutputLabels.shape)}] vs [{string.Join(", ", attackedOutputLabels.shape)}]");
        using var scope = NewDisposeScope();
        var s = cleanOutputLabels.eq(source);
        return (s.sum().item<long>(), s.logical_and(attackedOutputLabels.eq(target)).sum().item<long>());
    }
}
