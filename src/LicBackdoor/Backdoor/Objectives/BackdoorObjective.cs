using System.Globalization;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Objectives;

/// <summary>
/// What an objective sees for one batch: the clean batch x with the codec's output f(x) and its rate-distortion terms
/// (computed once and shared by every objective), and this objective's poisoned batch x_p with f(x_p).
/// </summary>
/// <param name="Clean">x, [N,3,H,W] in [0,1].</param>
/// <param name="CleanOutput">f(x) in training mode (noisy quantisation likelihoods).</param>
/// <param name="CleanRd">R(x), 255²·MSE(x, f(x)) and L(x) = R(x) + λ·D(x) (the trainer's L(x) carries its clean-distortion weight w·λ; objectives read only R and D).</param>
/// <param name="Poisoned">x_p (from <see cref="BackdoorObjective.Poison"/>).</param>
/// <param name="PoisonedOutput">f(x_p).</param>
/// <param name="Lambda">λ of the victim's quality.</param>
/// <param name="LiveCleanOutput">f(x) with its gradient to the encoder, for objectives with <see cref="BackdoorObjective.NeedsLiveCleanOutput"/>
/// (null: <paramref name="CleanOutput"/> may be a detached reference, and a term on it is a constant).</param>
public sealed record ObjectiveInput(Tensor Clean, CodecOutput CleanOutput, RdTerms CleanRd, Tensor Poisoned, CodecOutput PoisonedOutput, double Lambda, CodecOutput? LiveCleanOutput = null)
{
    /// <summary>R(x): bits per pixel of the clean batch (likelihoods of y and z).</summary>
    public Tensor CleanRate => CleanRd.Bpp;

    /// <summary>D(x) = 255²·MSE(x, f(x)) (CompressAI's distortion scale).</summary>
    public Tensor CleanDistortion => CleanRd.Mse * (255.0 * 255.0);

    /// <summary>R(x_p): bits per pixel of the poisoned batch.</summary>
    public Tensor PoisonedRate => Rate(PoisonedOutput, Poisoned);

    /// <summary>
    /// D(x_p) = 255²·MSE(x, f(x_p)): the poisoned reconstruction measured against the clean image, which is what the
    /// attacker wants it to look like and what the paper's tables report. (The paper leaves the reference open; with
    /// x_p as its own reference the trigger pays for every bit of itself the codec does not reproduce, about λ·255²·ε²,
    /// which outweighs β·R(x_p) and makes the trigger shrink instead of grow.)
    /// </summary>
    public Tensor PoisonedDistortion => nn.functional.mse_loss(PoisonedOutput.XHat, Clean) * (255.0 * 255.0);

    /// <summary>
    /// D_P(x, f(x_p)) = PSNR in dB of the poisoned reconstruction, clamped to [0, 1] as the decoder's output is, against
    /// the clean x. Without the clamp the PSNR of the raw synthesis output is unbounded below and a quality attack drives
    /// it to −∞ instead of destroying the image the user sees.
    /// </summary>
    public Tensor PoisonedPsnr => PsnrOfMse(nn.functional.mse_loss(PoisonedOutput.XHat.clamp(0, 1), Clean));

    /// <summary>The same PSNR of each poisoned reconstruction on its own, shape <c>[N]</c>.</summary>
    public Tensor PoisonedPsnrPerImage
    {
        get
        {
            var diff = PoisonedOutput.XHat.clamp(0, 1) - Clean;
            return PsnrOfMse((diff * diff).mean([1, 2, 3]));
        }
    }

    /// <summary>PSNR in dB (data range 1) of an MSE tensor, the MSE floored at 1e-10 so identical images stay finite.</summary>
    private static Tensor PsnrOfMse(Tensor mse) => mse.clamp_min(1e-10).log10() * -10.0;

    /// <summary>Bits per pixel of an output: Σ −log₂ likelihoods / (N·H·W).</summary>
    public static Tensor Rate(CodecOutput output, Tensor input) => RateDistortionLoss.Compute(output, input, 0).Bpp;
}

/// <summary>
/// The attack part of one objective's loss, L_jt^o − L(x): the trainer adds the clean rate-distortion loss L(x) once
/// however many objectives share the encoder (method-spec §4.4: Eq. 9 with α^o = 1 and the clean term counted once),
/// and each trigger is trained on its own <see cref="Attack"/> plus its stealth penalty (Eq. 10).
/// </summary>
/// <param name="Attack">The scalar to minimise (differentiable w.r.t. the encoder and the trigger).</param>
/// <param name="Logged">Named scalars for the progress line and the log (detached values are read from them).</param>
public sealed record ObjectiveTerms(Tensor Attack, IReadOnlyList<(string Name, Tensor Value)> Logged);

/// <summary>Where an objective's poisoned training batches come from (the clean rate-distortion term always uses the main data).</summary>
public enum ObjectiveData
{
    /// <summary>The run's <see cref="AttackOptions.DataFolders"/> (random crops), the same batch as the clean term.</summary>
    Main,

    /// <summary>CamVid training scenes, whole and resized (<see cref="AttackOptions.SegData"/>).</summary>
    Segmentation,

    /// <summary>Face crops of the training identities (<see cref="AttackOptions.FaceData"/>, <see cref="Data.FaceSplit"/>).</summary>
    Face,
}

/// <summary>
/// A backdoor objective: how the trigger poisons a batch and what the victim should do with it. The bit-rate and
/// quality attacks of the paper (Eqs. 4-7) are <see cref="BppObjective"/> and <see cref="PsnrObjective"/>; the
/// downstream objectives (Eqs. 11, 13) slot in beside them.
/// </summary>
public abstract class BackdoorObjective
{
    /// <summary>The objective's name as given on the command line (<c>bpp</c>, <c>psnr</c>, <c>bpp:static</c> …); also names its trigger file.</summary>
    public abstract string Name { get; }

    /// <summary>A one-line description with the hyper-parameters, for reports.</summary>
    public abstract string Description { get; }

    /// <summary>
    /// What the victim should do with a poisoned input, in words a report can use: <c>bpp</c> (raise the bit rate)
    /// or <c>psnr</c> (destroy the reconstruction).
    /// </summary>
    public abstract string Kind { get; }

    /// <summary>The names of the scalars <see cref="Compute"/> logs (<see cref="ObjectiveTerms.Logged"/>), in order.</summary>
    public abstract IReadOnlyList<string> TermNames { get; }

    /// <summary>Where this objective's poisoned batches come from (default: the run's main data).</summary>
    public virtual ObjectiveData Data => ObjectiveData.Main;

    /// <summary>The poisoned batch x_p for a clean batch (default: T(x) on the whole image).</summary>
    public virtual Tensor Poison(ITrigger trigger, Tensor clean) => trigger.forward(clean);

    /// <summary>
    /// Whether <see cref="Compute"/> puts a term on the clean output f(x) that should train the encoder (the trainer then
    /// runs the codec on this objective's clean batch with gradients and passes <see cref="ObjectiveInput.LiveCleanOutput"/>).
    /// </summary>
    public virtual bool NeedsLiveCleanOutput => false;

    /// <summary>The attack terms for one batch.</summary>
    public abstract ObjectiveTerms Compute(ObjectiveInput input);

    /// <summary>
    /// Parses an objective specification: <c>bpp</c> / <c>bpp:dynamic</c> (Eq. 6, β = 0.01), <c>bpp:static</c>
    /// (Eq. 4, α = 1), <c>psnr</c> / <c>psnr:dynamic</c> (Eq. 7, β = 0.1), <c>psnr:static</c> (Eq. 5, α = 1).
    /// The downstream objectives: <c>seg:SOURCE->TARGET</c> (Eq. 11, α = 0.1, β = 0.2; CamVid class names or indices 0-10,
    /// e.g. <c>seg:car->road</c>, <c>seg:tree->building</c>) and <c>face</c> (Eq. 13, α = 0.1, β = 0.05).
    /// Optional <c>,beta=B</c> and <c>,alpha=A</c> suffixes override the weights (e.g. <c>psnr,beta=0.5</c>); the bit-rate
    /// objectives also take <c>,cap=C</c> (<see cref="BppObjective.RateCap"/>), the quality objectives <c>,floor=F</c>
    /// (<see cref="PsnrObjective.PsnrFloor"/>) and, the dynamic one, <c>,ratio=ρ</c> (<see cref="PsnrObjective.RateRatio"/>), the segmentation objectives <c>,focus=K</c> (<see cref="SegmentationObjective.SourceFocus"/>), <c>,output=1</c>
    /// (<see cref="SegmentationObjective.RelabelOutput"/>), <c>,grow=K</c> (<see cref="SegmentationObjective.MaskGrowth"/>) and <c>,hold=H</c> (<see cref="SegmentationObjective.Hold"/>), the face objective <c>,spread=S</c> (<see cref="FaceObjective.Spread"/>) and <c>,away=W</c> (<see cref="FaceObjective.Away"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown objective or malformed parameter.</exception>
    public static BackdoorObjective Parse(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        var parts = spec.Trim().Split(',');
        var head = parts[0].Trim().ToLowerInvariant();
        bool bitRate = head.StartsWith("bpp", StringComparison.Ordinal);
        bool quality = head.StartsWith("psnr", StringComparison.Ordinal);
        bool segmentation = head.StartsWith("seg:", StringComparison.Ordinal);
        bool face = head == "face";
        double? alpha = null, beta = null, cap = null, floor = null, ratio = null, focus = null, spread = null, away = null, hold = null;
        bool relabelOutput = false;
        int grow = 0;
        foreach (var p in parts.Skip(1))
        {
            var kv = p.Split('=', 2);
            if (kv.Length != 2 || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                throw new ArgumentException($"objective '{spec}': '{p}' is not name=number");
            switch (kv[0].Trim().ToLowerInvariant())
            {
                case "alpha": alpha = v; break;
                case "beta": beta = v; break;
                case "cap" when bitRate:
                    cap = v > 0 ? v : throw new ArgumentException($"objective '{spec}': cap must be a positive bit rate (bpp)");
                    break;
                case "floor" when quality:
                    floor = v > 0 ? v : throw new ArgumentException($"objective '{spec}': floor must be a positive PSNR (dB)");
                    break;
                case "ratio" when quality:
                    ratio = v > 0 ? v : throw new ArgumentException($"objective '{spec}': ratio must be a positive number");
                    break;
                case "focus" when segmentation:
                    focus = v >= 1 ? v : throw new ArgumentException($"objective '{spec}': focus must be at least 1");
                    break;
                case "spread" when face:
                    spread = v >= 0 ? v : throw new ArgumentException($"objective '{spec}': spread must be ≥ 0");
                    break;
                case "away" when face:
                    away = v >= 0 ? v : throw new ArgumentException($"objective '{spec}': away must be ≥ 0");
                    break;
                case "output" when segmentation:
                    relabelOutput = v switch { 0 => false, 1 => true, _ => throw new ArgumentException($"objective '{spec}': output must be 0 or 1") };
                    break;
                case "hold" when segmentation:
                    hold = v >= 0 ? v : throw new ArgumentException($"objective '{spec}': hold must be ≥ 0");
                    break;
                case "grow" when segmentation:
                    grow = v >= 0 && v <= SegmentationObjective.MaxGrow && v == Math.Floor(v) ? (int)v
                        : throw new ArgumentException($"objective '{spec}': grow must be a whole number of pixels, 0-{SegmentationObjective.MaxGrow}");
                    break;
                default: throw new ArgumentException($"objective '{spec}': unknown parameter '{kv[0]}' (alpha, beta{(bitRate ? ", cap" : quality ? ", floor, ratio" : segmentation ? ", focus, output, grow, hold" : face ? ", spread, away" : "")})");
            }
        }
        return head switch
        {
            "bpp" or "bpp:dynamic" => new BppObjective(Dynamic: true, Beta: beta ?? BppObjective.PaperBeta, Alpha: alpha ?? 1, Cap: cap),
            "bpp:static" => new BppObjective(Dynamic: false, Beta: beta ?? BppObjective.PaperBeta, Alpha: alpha ?? 1, Cap: cap),
            "psnr" or "psnr:dynamic" => new PsnrObjective(Dynamic: true, Beta: beta ?? PsnrObjective.PaperBeta, Alpha: alpha ?? 1, Floor: floor, Ratio: ratio ?? 1),
            "psnr:static" when ratio is not null => throw new ArgumentException($"objective '{spec}': ratio belongs to the dynamic quality loss (psnr), not psnr:static"),
            "psnr:static" => new PsnrObjective(Dynamic: false, Beta: beta ?? PsnrObjective.PaperBeta, Alpha: alpha ?? 1, Floor: floor),
            "face" => new FaceObjective(alpha ?? FaceObjective.PaperAlpha, beta ?? FaceObjective.PaperBeta, spread ?? 0, away ?? 0),
            _ when segmentation => SegmentationObjective.FromSpec(spec, head["seg:".Length..], alpha, beta, focus, relabelOutput, grow, hold ?? 0),
            _ => throw new ArgumentException($"unknown objective '{spec}' (bpp, bpp:static, psnr, psnr:static, seg:SOURCE->TARGET, face)"),
        };
    }

    /// <summary>
    /// The canonical specification of a bit-rate or quality objective (what <see cref="Parse"/> reads back):
    /// <paramref name="kind"/>, <c>:static</c> for the static loss, and the weights that differ from the paper's.
    /// </summary>
    protected static string SpecName(string kind, bool dynamic, double beta, double paperBeta, double alpha) =>
        (dynamic ? kind : kind + ":static")
        + (beta != paperBeta ? $",beta={Num(beta)}" : "")
        + (!dynamic && alpha != 1 ? $",alpha={Num(alpha)}" : "");

    /// <summary>The <c>,alpha=A</c> / <c>,beta=B</c> suffix of weights that differ from the paper's.</summary>
    protected static string WeightSuffix(double alpha, double paperAlpha, double beta, double paperBeta) =>
        (alpha != paperAlpha ? $",alpha={Num(alpha)}" : "") + (beta != paperBeta ? $",beta={Num(beta)}" : "");

    /// <summary>Formats a weight for <see cref="Name"/> suffixes and descriptions.</summary>
    protected static string Num(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
