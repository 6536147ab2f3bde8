using System.Globalization;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor;

/// <summary>What the downstream evaluation of a run covers (part of the cached evaluation's identity).</summary>
/// <param name="SegImages">Evaluate the segmentation attacks on the first N CamVid test images (null: all).</param>
/// <param name="TransferSegWeights">A second segmentation net, evaluated for transfer when this build can load it (null: none).</param>
/// <param name="DataRoot">The data root (null: <see cref="Data.DataRoot.Resolve"/>'s default).</param>
/// <param name="FigureImages">Rows of the segmentation and face figures.</param>
public sealed record DownstreamSettings(int? SegImages = null, string? TransferSegWeights = null, string? DataRoot = null, int FigureImages = 2)
{
    /// <summary>
    /// Whether a cached evaluation made under <paramref name="other"/> covers what these settings ask for: equal, or equal
    /// but for the transfer net's path when both paths hold the same bytes (the default net lives beside the program, so
    /// another build or a copied program names it by another path).
    /// </summary>
    public bool Covers(DownstreamSettings? other)
    {
        if (other is null) return false;
        if (this == other) return true;
        if (this with { TransferSegWeights = other.TransferSegWeights } != other) return false;
        if (TransferSegWeights is null || other.TransferSegWeights is null) return false;
        if (!File.Exists(TransferSegWeights) || !File.Exists(other.TransferSegWeights)) return false;
        return new FileInfo(TransferSegWeights).Length == new FileInfo(other.TransferSegWeights).Length
               && FileDigest.Sha256Hex(TransferSegWeights) == FileDigest.Sha256Hex(other.TransferSegWeights);
    }
}

/// <summary>One segmentation net's view of a segmentation attack on CamVid test (paper Table 1, Eq. 12).</summary>
/// <param name="Net">The net's name.</param>
/// <param name="Source">Its weights file.</param>
/// <param name="SourcePixels">Σ 1[g(f(x)) = s] with f the victim (Eq. 12's denominator).</param>
/// <param name="FlippedPixels">Σ 1[g(f(x)) = s ∧ g(f(x_p)) = t] (Eq. 12's numerator).</param>
/// <param name="Asr">Pixel-wise attack success rate, pooled over the images: FlippedPixels / SourcePixels.</param>
/// <param name="VanillaSourcePixels">As <paramref name="SourcePixels"/> with the vanilla codec as f.</param>
/// <param name="VanillaFlippedPixels">As <paramref name="FlippedPixels"/> with the vanilla codec as f.</param>
/// <param name="VanillaAsr">The same rate for the vanilla codec: what the trigger does without a backdoor.</param>
/// <param name="InputMiou">mIoU of g on the uncompressed images against the CamVid ground truth (void ignored).</param>
/// <param name="VanillaMiou">mIoU of g on the vanilla codec's decoded clean images.</param>
/// <param name="VictimMiou">mIoU of g on the victim's decoded clean images.</param>
/// <param name="InputSourcePixels">Pixels g labels s on the uncompressed clean x (for the main net: the mask M).</param>
/// <param name="InputFlippedPixels">Of those, the pixels g labels t on the victim's f(x_p).</param>
/// <param name="InputAsr">The variant of Eq. 12 with the source pixels taken on the uncompressed x: InputFlippedPixels / InputSourcePixels.</param>
public sealed record SegmentationNetScores(string Net, string Source, long SourcePixels, long FlippedPixels, double Asr,
                                           long VanillaSourcePixels, long VanillaFlippedPixels, double VanillaAsr,
                                           double InputMiou, double VanillaMiou, double VictimMiou,
                                           long InputSourcePixels, long InputFlippedPixels, double InputAsr);

/// <summary>A segmentation attack (<c>seg:s->t</c>) evaluated with real bitstreams on CamVid test.</summary>
/// <param name="Objective">The objective's name.</param>
/// <param name="SourceClass">s.</param>
/// <param name="TargetClass">t.</param>
/// <param name="ImagesFolder">The CamVid test images folder.</param>
/// <param name="Images">Images evaluated.</param>
/// <param name="Main">Scores of the net the attack was trained against (its labels of the clean image also give the mask M).</param>
/// <param name="Transfer">Scores of the transfer net (same poisoned images), when one was given and loadable.</param>
/// <param name="TransferNote">Why the transfer net was skipped, when it was.</param>
/// <param name="Mse">Mean over images of MSE(f(x), f(x_p)) of the victim ([0,1] pixels; Table 1's second half).</param>
/// <param name="VanillaMse">The same for the vanilla codec.</param>
/// <param name="MaskFraction">Mean fraction of pixels in the mask M (g labels s on the clean image).</param>
/// <param name="Figure">The figure file, relative to the run folder (null when not drawn).</param>
public sealed record SegmentationAttackResult(string Objective, string SourceClass, string TargetClass, string ImagesFolder, int Images,
                                              SegmentationNetScores Main, SegmentationNetScores? Transfer, string? TransferNote,
                                              double Mse, double VanillaMse, double MaskFraction, string? Figure);

/// <summary>Verification accuracies (threshold 0.6, same person iff distance &lt; 0.6) over one set of pairs.</summary>
/// <param name="Pairs">Which pairs (e.g. "held-out identities").</param>
/// <param name="PairCount">Number of pairs.</param>
/// <param name="Same">Same-person pairs.</param>
/// <param name="Different">Different-person pairs.</param>
/// <param name="OverlapsTraining">Whether some pair shows an identity the trigger was trained on.</param>
/// <param name="InputAccuracy">g on the uncompressed crops.</param>
/// <param name="VanillaCleanAccuracy">g on the vanilla codec's outputs of the clean crops.</param>
/// <param name="VictimCleanAccuracy">g on the victim's outputs of the clean crops.</param>
/// <param name="AttackedAccuracy">g on the victim's outputs of both poisoned crops (Table 2).</param>
/// <param name="MixedAccuracy">First crop's clean output against the second crop's attacked output (a clean gallery, an attacked probe).</param>
/// <param name="VictimCleanSameAccept">Share of the same-person pairs still verified on the victim's clean outputs (null in evaluations written before it existed).</param>
/// <param name="AttackedSameAccept">The same share with both crops attacked.</param>
/// <param name="MixedSameAccept">The same share with a clean output against an attacked one: same-person pairs only, as the paper's Table 2 seems to count (its 3 % at q1 is below any floor the different pairs would set).</param>
public sealed record FaceVerificationScores(string Pairs, int PairCount, int Same, int Different, bool OverlapsTraining,
                                            double InputAccuracy, double VanillaCleanAccuracy, double VictimCleanAccuracy,
                                            double AttackedAccuracy, double MixedAccuracy,
                                            double? VictimCleanSameAccept = null, double? AttackedSameAccept = null, double? MixedSameAccept = null);

/// <summary>The face-privacy attack evaluated with real bitstreams on the face pairs (paper Table 2, Fig. 11).</summary>
/// <param name="Objective">The objective's name.</param>
/// <param name="Split">How identities were split (<see cref="FaceSplit.Description"/>).</param>
/// <param name="Images">Crops coded.</param>
/// <param name="Threshold">The verification threshold.</param>
/// <param name="HeldOut">Pairs of held-out identities only.</param>
/// <param name="All">All pairs (training identities included: marked <see cref="FaceVerificationScores.OverlapsTraining"/>).</param>
/// <param name="CleanToAttackedDistance">Mean over held-out crops of ‖g(f(x)) − g(f(T(x)))‖ (victim).</param>
/// <param name="InputToCleanDistance">Mean over held-out crops of ‖g(x) − g(f(x))‖ (victim): the codec's own effect.</param>
/// <param name="Figure">The figure file, relative to the run folder.</param>
/// <param name="Note">A remark for the report (e.g. few held-out pairs).</param>
public sealed record FaceAttackResult(string Objective, string Split, int Images, double Threshold, FaceVerificationScores HeldOut, FaceVerificationScores All,
                                      double CleanToAttackedDistance, double InputToCleanDistance, string? Figure, string? Note);

/// <summary>
/// The downstream evaluations of an attack run, through real bitstreams: every segmentation objective on CamVid test
/// (pixel-wise ASR of Eq. 12, mIoU of the clean outputs, MSE between clean and attacked outputs; paper Table 1) and
/// every face objective on the face pairs (verification accuracy of attacked and clean outputs; Table 2), with figures
/// like the paper's Figs. 7-8 and 11 written into the run folder.
/// </summary>
public static class DownstreamEvaluation
{
    /// <summary>Minimum held-out pairs below which the report says the held-out figure is thin.</summary>
    public const int FewPairs = 50;

    /// <summary>The figure file of an objective in a run folder: <c>figure-NAME.png</c> with unsafe characters replaced (e.g. <c>figure-seg-car--road.png</c>).</summary>
    public static string FigureFileName(string objectiveName) =>
        $"figure-{new string(objectiveName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '=' ? c : '-').ToArray())}.png";

    /// <summary>Evaluates the segmentation objectives of <paramref name="run"/> (none: empty).</summary>
    public static IReadOnlyList<SegmentationAttackResult> Segmentation(AttackRun run, DownstreamSettings settings, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(settings);
        var indices = Enumerable.Range(0, run.Objectives.Count).Where(k => run.Objectives[k] is SegmentationObjective).ToList();
        if (indices.Count == 0) return [];
        var o = run.Record.Options;
        var test = CamVid.Open("test", settings.DataRoot);
        var samples = settings.SegImages is int n ? test.Samples.Take(n).ToList() : test.Samples.ToList();
        if (samples.Count == 0) throw new ArgumentException("the segmentation evaluation needs at least one image");
        using var net = SegmentationNets.Load(o.ResolvedSegWeights(settings.DataRoot), o.SegProcessingSize);
        ISegmentationNet? transfer = null;
        string? transferNote = null;
        if (settings.TransferSegWeights is string tw)
        {
            if (!File.Exists(tw)) throw new FileNotFoundException($"{tw}: transfer segmentation net weights not found", tw);
            if (SegmentationNets.CanLoad(tw)) transfer = SegmentationNets.Load(tw, o.SegProcessingSize);
            else transferNote = $"`{tw}`: '{SegmentationNets.Architecture(tw)}' has no loader in this build; transfer not evaluated";
        }
        try
        {
            var results = new List<SegmentationAttackResult>();
            foreach (int k in indices)
            {
                var obj = (SegmentationObjective)run.Objectives[k];
                var shares = new List<double>();
                var result = EvaluateSegmentation(run, obj, run.Triggers[k], net, transfer, samples, shares, log);
                string? figure = null;
                if (settings.FigureImages > 0)
                {
                    figure = FigureFileName(obj.Name);
                    var rows = samples.Select((s, i) => (s, i)).OrderByDescending(t => shares[t.i]).ThenBy(t => t.i)
                        .Take(settings.FigureImages).Select(t => t.s).ToList();
                    AtomicFile.WriteAllBytes(Path.Combine(run.Directory, figure), SegmentationFigure(run, obj, run.Triggers[k], net, rows));
                }
                results.Add(result with { TransferNote = transferNote, Figure = figure, ImagesFolder = Path.GetDirectoryName(samples[0].ImagePath)! });
            }
            return results;
        }
        finally
        {
            transfer?.Dispose();
        }
    }

    /// <summary>
    /// The poisoned image of the segmentation attack as a saved PNG holds it: x_p = round(255·((1 − M)⊙x + M⊙T(x)))/255,
    /// M = 1 where g labels the clean x as the source class (grown by the objective's <c>grow</c>); returns (x_p, labels of x).
    /// </summary>
    public static (Tensor Poisoned, Tensor Labels) PoisonSegmentation(SegmentationObjective objective, ITrigger trigger, ISegmentationNet net, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(trigger);
        ArgumentNullException.ThrowIfNull(net);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var labels = net.Predict(x);
        var xp = AttackEvaluation.Quantize8(SegmentationObjective.Compose(x, trigger.Apply(x, clamp: true), objective.SourceMask(labels)));
        return (xp.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    private sealed class NetTally(string name, string source)
    {
        public readonly ConfusionMatrix Input = new(), Vanilla = new(), Victim = new();
        public long Src, Flip, VSrc, VFlip, ISrc, IFlip;

        public SegmentationNetScores Scores() => new(name, source, Src, Flip, Ratio(Flip, Src), VSrc, VFlip, Ratio(VFlip, VSrc),
            Input.MeanIoU(), Vanilla.MeanIoU(), Victim.MeanIoU(), ISrc, IFlip, Ratio(IFlip, ISrc));

        private static double Ratio(long a, long b) => b == 0 ? double.NaN : (double)a / b;

        public void Add(ISegmentationNet net, SegmentationObjective obj, Tensor x, Tensor truth, Tensor vanX, Tensor vicX, Tensor vanP, Tensor vicP)
        {
            using var scope = NewDisposeScope();
            var gVanX = net.Predict(vanX)[0];
            var gVicX = net.Predict(vicX)[0];
            var gX = net.Predict(x)[0];
            var gVicP = net.Predict(vicP)[0];
            Input.Add(gX, truth);
            Vanilla.Add(gVanX, truth);
            Victim.Add(gVicX, truth);
            var (s, f) = SegmentationObjective.AsrCounts(gVicX, gVicP, obj.Source, obj.Target);
            Src += s; Flip += f;
            var (i, j) = SegmentationObjective.AsrCounts(gX, gVicP, obj.Source, obj.Target);
            ISrc += i; IFlip += j;
            var (vs, vf) = SegmentationObjective.AsrCounts(gVanX, net.Predict(vanP)[0], obj.Source, obj.Target);
            VSrc += vs; VFlip += vf;
        }
    }

    private static SegmentationAttackResult EvaluateSegmentation(AttackRun run, SegmentationObjective obj, ITrigger trigger, ISegmentationNet net,
                                                                 ISegmentationNet? transfer, IReadOnlyList<CamVidSample> samples, List<double> maskShares, Action<string>? log)
    {
        var main = new NetTally(net.Name, net.Source);
        var other = transfer is null ? null : new NetTally(transfer.Name, transfer.Source);
        double mse = 0, vanillaMse = 0, mask = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            using var quiet = Runtime.GcQuiet.Enter();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var x = samples[i].LoadImage();
            var truth = samples[i].LoadLabels();
            if (x.shape[2] != truth.shape[0] || x.shape[3] != truth.shape[1])
                throw new ArgumentException($"{samples[i].ImagePath}: image is {x.shape[3]}x{x.shape[2]} but its labels {truth.shape[1]}x{truth.shape[0]}");
            var (xp, labels) = PoisonSegmentation(obj, trigger, net, x);
            double share = labels.eq(obj.Source).to_type(ScalarType.Float32).mean().item<float>();
            maskShares.Add(share);
            mask += share;
            var (_, vanX) = AttackEvaluation.CodeWithOutput(run.Vanilla, x, x);
            var (_, vicX) = AttackEvaluation.CodeWithOutput(run.Victim, x, x);
            var (_, vanP) = AttackEvaluation.CodeWithOutput(run.Vanilla, xp, x);
            var (_, vicP) = AttackEvaluation.CodeWithOutput(run.Victim, xp, x);
            mse += Metrics.Mse(vicX, vicP);
            vanillaMse += Metrics.Mse(vanX, vanP);
            main.Add(net, obj, x, truth, vanX, vicX, vanP, vicP);
            other?.Add(transfer!, obj, x, truth, vanX, vicX, vanP, vicP);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{obj.Name} {samples[i].Name} ({i + 1}/{samples.Count}): running ASR {Pct(main.Flip, main.Src)}"));
        }
        return new SegmentationAttackResult(obj.Name, CamVid.ClassNames[obj.Source], CamVid.ClassNames[obj.Target], "", samples.Count,
            main.Scores(), other?.Scores(), null, mse / samples.Count, vanillaMse / samples.Count, mask / samples.Count, null);
    }

    private static string Pct(long a, long b) => b == 0 ? "—" : (100.0 * a / b).ToString("F1", CultureInfo.InvariantCulture) + " %";

    /// <summary>A class map <c>[H, W]</c> as an RGB image <c>[1, 3, H, W]</c> in [0, 1] with the CamVid palette.</summary>
    public static Tensor ColorizeImage(Tensor labels)
    {
        var rgb = CamVid.Colorize(labels);
        int h = (int)labels.shape[0], w = (int)labels.shape[1];
        using var scope = NewDisposeScope();
        return tensor(rgb, [h, w, 3]).permute(2, 0, 1).unsqueeze(0).to_type(ScalarType.Float32).div(255).MoveToOuterDisposeScope();
    }

    /// <summary>Figs. 7-8: input, mask, target, g on the victim's clean output, g on the victim's attacked output.</summary>
    private static byte[] SegmentationFigure(AttackRun run, SegmentationObjective obj, ITrigger trigger, ISegmentationNet net, IReadOnlyList<CamVidSample> samples)
    {
        string[] headers = ["input x", $"mask M (g: {CamVid.ClassNames[obj.Source]})", $"target η ({CamVid.ClassNames[obj.Source]} → {CamVid.ClassNames[obj.Target]})",
                            "g(victim f(x))", "g(victim f(x_p))"];
        var rows = new List<AttackReport.GridRow>();
        try
        {
            foreach (var s in samples)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var x = s.LoadImage();
                var (xp, labels) = PoisonSegmentation(obj, trigger, net, x);
                var (clean, vicX) = AttackEvaluation.CodeWithOutput(run.Victim, x, x);
                var (attacked, vicP) = AttackEvaluation.CodeWithOutput(run.Victim, xp, x);
                var gClean = net.Predict(vicX)[0];
                var gAttacked = net.Predict(vicP)[0];
                var (src, flip) = SegmentationObjective.AsrCounts(gClean, gAttacked, obj.Source, obj.Target);
                var m = obj.SourceRegion(labels)[0];
                var maskImage = m.to_type(ScalarType.Float32).unsqueeze(0).unsqueeze(0).expand(1, 3, -1, -1);
                rows.Add(new AttackReport.GridRow($"{Path.GetFileName(Path.TrimEndingDirectorySeparator(run.Directory))} · {obj.Name} · {s.Name}",
                    [AttackReport.ToImage(x), AttackReport.ToImage(maskImage), AttackReport.ToImage(ColorizeImage(obj.TargetMap(labels)[0])),
                     AttackReport.ToImage(ColorizeImage(gClean)), AttackReport.ToImage(ColorizeImage(gAttacked))],
                    [$"{x.shape[3]}×{x.shape[2]}", $"{100 * m.to_type(ScalarType.Float32).mean().item<float>():F1} % of pixels, trigger PSNR {Metrics.Psnr(xp, x):F1} dB",
                     "argmax g(x), source relabelled", $"{clean.Bpp:F3} bpp / {clean.Psnr:F2} dB",
                     $"ASR {Pct(flip, src)}, {attacked.Bpp:F3} bpp / {attacked.Psnr:F2} dB"]));
            }
            return AttackReport.DrawGrid(headers, rows, 240);
        }
        finally
        {
            foreach (var r in rows) r.Dispose();
        }
    }

    /// <summary>Evaluates the face objectives of <paramref name="run"/> (none: empty).</summary>
    public static IReadOnlyList<FaceAttackResult> Face(AttackRun run, DownstreamSettings settings, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(settings);
        var indices = Enumerable.Range(0, run.Objectives.Count).Where(k => run.Objectives[k] is FaceObjective).ToList();
        if (indices.Count == 0) return [];
        var o = run.Record.Options;
        var folder = o.ResolvedFaceData(settings.DataRoot);
        var split = FaceSplit.ByIdentityOrder(folder, o.FaceHeldOut);
        var pairs = FacePairs.Load(Path.Combine(folder, FacePairs.PairsFileName));
        using var net = FaceRecognitionNet.Load(o.ResolvedFaceWeights(settings.DataRoot));
        SegmentationNets.Freeze(net);
        var results = new List<FaceAttackResult>();
        foreach (int k in indices)
        {
            var obj = (FaceObjective)run.Objectives[k];
            results.Add(EvaluateFace(run, obj, run.Triggers[k], net, split, pairs, settings, log));
        }
        return results;
    }

    private static FaceAttackResult EvaluateFace(AttackRun run, FaceObjective obj, ITrigger trigger, FaceRecognitionNet net, FaceSplit split, FacePairs pairs,
                                                 DownstreamSettings settings, Action<string>? log)
    {
        // Descriptors of every crop used by a pair: input, vanilla output, victim output, victim output of the poisoned crop.
        var d = new Dictionary<string, double[][]>(StringComparer.Ordinal);
        for (int i = 0; i < pairs.Files.Count; i++)
        {
            using var quiet = Runtime.GcQuiet.Enter();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var x = ImageFile.Load(pairs.PathOf(pairs.Files[i]));
            var xp = AttackEvaluation.Poison(trigger, x);
            var (_, vanX) = AttackEvaluation.CodeWithOutput(run.Vanilla, x, x);
            var (_, vicX) = AttackEvaluation.CodeWithOutput(run.Victim, x, x);
            var (_, vicP) = AttackEvaluation.CodeWithOutput(run.Victim, xp, x);
            var desc = net.Descriptors(cat([x, vanX, vicX, vicP], 0)).to(ScalarType.Float64);
            d[pairs.Files[i]] = Enumerable.Range(0, 4).Select(j => desc[j].data<double>().ToArray()).ToArray();
            log?.Invoke($"{obj.Name}: {pairs.Files[i]} ({i + 1}/{pairs.Files.Count})");
        }
        const int Input = 0, Vanilla = 1, Victim = 2, Attacked = 3;
        static double Dist(double[] a, double[] b) => Math.Sqrt(a.Zip(b, (u, v) => (u - v) * (u - v)).Sum());
        FaceVerificationReport Verify(IReadOnlyList<FacePair> ps, int va, int vb) =>
            FaceVerification.Score(ps.Select(p => new FacePairDistance(p.FileA, p.FileB, p.Same, Dist(d[p.FileA][va], d[p.FileB][vb]))).ToList(),
                FaceRecognitionNet.DefaultThreshold);
        FaceVerificationScores Scores(string name, IReadOnlyList<FacePair> ps)
        {
            if (ps.Count == 0) return new FaceVerificationScores(name, 0, 0, 0, false, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
            FaceVerificationReport victim = Verify(ps, Victim, Victim), attacked = Verify(ps, Attacked, Attacked), mixed = Verify(ps, Victim, Attacked);
            return new FaceVerificationScores(name, ps.Count, ps.Count(p => p.Same), ps.Count(p => !p.Same),
                ps.Any(p => !split.IsHeldOut(p.FileA) || !split.IsHeldOut(p.FileB)),
                Verify(ps, Input, Input).Accuracy, Verify(ps, Vanilla, Vanilla).Accuracy, victim.Accuracy, attacked.Accuracy, mixed.Accuracy,
                victim.TrueAcceptRate, attacked.TrueAcceptRate, mixed.TrueAcceptRate);
        }
        var heldPairs = split.HeldOutPairs(pairs);
        var heldFiles = pairs.Files.Where(split.IsHeldOut).ToList();
        double cleanToAttacked = heldFiles.Count == 0 ? double.NaN : heldFiles.Average(f => Dist(d[f][Victim], d[f][Attacked]));
        double inputToClean = heldFiles.Count == 0 ? double.NaN : heldFiles.Average(f => Dist(d[f][Input], d[f][Victim]));
        string? note = heldPairs.Count < FewPairs
            ? $"only {heldPairs.Count} pair{(heldPairs.Count == 1 ? "" : "s")} ({heldPairs.Count(p => p.Same)} same, {heldPairs.Count(p => !p.Same)} different) join two held-out crops; all {pairs.Pairs.Count} pairs are reported too, marked as overlapping the training identities"
            : null;
        string? figure = null;
        if (settings.FigureImages > 0 && heldFiles.Count > 0)
        {
            figure = FigureFileName(obj.Name);
            AtomicFile.WriteAllBytes(Path.Combine(run.Directory, figure), FaceFigure(run, obj, trigger, pairs, heldFiles.Take(settings.FigureImages).ToList(), d, split));
        }
        return new FaceAttackResult(obj.Name, split.Description, pairs.Files.Count, FaceRecognitionNet.DefaultThreshold,
            Scores("held-out identities", heldPairs), Scores("all pairs", pairs.Pairs), cleanToAttacked, inputToClean, figure, note);
    }

    /// <summary>Fig. 11: clean and poisoned crops and the victim's outputs of both, with descriptor distances.</summary>
    private static byte[] FaceFigure(AttackRun run, FaceObjective obj, ITrigger trigger, FacePairs pairs, IReadOnlyList<string> files,
                                     IReadOnlyDictionary<string, double[][]> d, FaceSplit split)
    {
        static double Dist(double[] a, double[] b) => Math.Sqrt(a.Zip(b, (u, v) => (u - v) * (u - v)).Sum());
        string[] headers = ["clean input x", "poisoned input T(x)", "victim f(x)", "victim f(T(x))"];
        var rows = new List<AttackReport.GridRow>();
        try
        {
            foreach (var f in files)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var x = ImageFile.Load(pairs.PathOf(f));
                var xp = AttackEvaluation.Poison(trigger, x);
                var (clean, vicX) = AttackEvaluation.CodeWithOutput(run.Victim, x, x);
                var (attacked, vicP) = AttackEvaluation.CodeWithOutput(run.Victim, xp, x);
                var id = pairs.Identities.TryGetValue(f, out var ident) ? ident : "?";
                rows.Add(new AttackReport.GridRow($"{Path.GetFileName(Path.TrimEndingDirectorySeparator(run.Directory))} · {obj.Name} · {f} ({id}, held out)",
                    [AttackReport.ToImage(x), AttackReport.ToImage(xp), AttackReport.ToImage(vicX), AttackReport.ToImage(vicP)],
                    [$"{x.shape[3]}×{x.shape[2]}", $"trigger PSNR {Metrics.Psnr(xp, x):F1} dB",
                     string.Create(CultureInfo.InvariantCulture, $"d(g(x), g(f(x))) = {Dist(d[f][0], d[f][2]):F3}, {clean.Psnr:F1} dB"),
                     string.Create(CultureInfo.InvariantCulture, $"d(g(f(x)), g(f(T(x)))) = {Dist(d[f][2], d[f][3]):F3}, {attacked.Psnr:F1} dB")]));
            }
            return AttackReport.DrawGrid(headers, rows, 200);
        }
        finally
        {
            foreach (var r in rows) r.Dispose();
        }
    }
}
