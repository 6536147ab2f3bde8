using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Objectives;

/// <summary>
/// The quality attack (paper §3.3): poisoned images should decode into garbage without costing more bits.
/// <list type="bullet">
/// <item>Dynamic (Eq. 7, the paper's choice): <c>L = max(R(x), R(x_p)) + λ·D(x) + β·λ·D_P(x, f(x_p))</c>, β = 0.1, where
/// D_P is the PSNR (dB) of the poisoned reconstruction against the clean x. Its attack part beyond L(x) is
/// <c>max(R(x_p) − R(x), 0) + β·λ·D_P</c>.</item>
/// <item>Static (Eq. 5): <c>L = L(x) + α·R(x_p) + β·λ·D_P</c>; α is not given in the paper (default 1).</item>
/// </list>
/// <para>Optional floor (not in the paper, <c>psnr,floor=F</c>): the PSNR term becomes the batch mean of
/// <c>max(PSNR_i, F)</c> over the poisoned images i, so an image already decoded below F dB no longer pulls the encoder
/// and the clean term has it to itself (the quality counterpart of <see cref="BppObjective.RateCap"/>).</para>
/// <para>Optional rate ratio (not in the paper, dynamic loss only, <c>psnr,ratio=ρ</c>): the rate term becomes
/// <c>max(R(x_p) − ρ·sg(R(x)), 0)</c>, so ρ &lt; 1 asks the poisoned images to cost less than the clean ones on the
/// training crops; the clean rate enters without its gradient (sg), so the hinge cannot be met by raising the clean rate.
/// The training crops' noisy likelihoods understate what a poisoned whole Kodak image costs against its clean version
/// (docs/RESULTS.md, "Why the quality trigger costs more bits on Kodak than in training"); ρ is the margin.</para>
/// </summary>
public sealed class PsnrObjective(bool Dynamic = true, double Beta = PsnrObjective.PaperBeta, double Alpha = 1, double? Floor = null, double Ratio = 1) : BackdoorObjective
{
    /// <summary>β of Eq. 7 (paper §4.2).</summary>
    public const double PaperBeta = 0.1;

    public bool IsDynamic { get; } = Dynamic;
    public double BetaWeight { get; } = Beta;
    public double AlphaWeight { get; } = Alpha;

    /// <summary>PSNR (dB) of a poisoned reconstruction below which the attack no longer rewards lowering it; null: no floor.</summary>
    public double? PsnrFloor { get; } = Floor is null || (Floor > 0 && double.IsFinite(Floor.Value))
        ? Floor
        : throw new ArgumentOutOfRangeException(nameof(Floor), Floor, "the PSNR floor must be a positive number of dB");

    /// <summary>ρ of the dynamic rate term <c>max(R(x_p) − ρ·sg(R(x)), 0)</c> (1: the paper's Eq. 7, R(x) with its gradient).</summary>
    public double RateRatio { get; } = Ratio > 0 && double.IsFinite(Ratio) && (Dynamic || Ratio == 1)
        ? Ratio
        : throw new ArgumentOutOfRangeException(nameof(Ratio), Ratio, Dynamic ? "the rate ratio must be a positive number" : "the rate ratio belongs to the dynamic loss (Eq. 7)");

    public override string Name => SpecName(Kind, IsDynamic, BetaWeight, PaperBeta, AlphaWeight) + (PsnrFloor is double f ? $",floor={Num(f)}" : "")
        + (RateRatio != 1 ? $",ratio={Num(RateRatio)}" : "");

    public override string Kind => "psnr";

    public override string Description => (IsDynamic
        ? (RateRatio == 1
            ? $"quality attack, dynamic loss (Eq. 7): max(R(x), R(x_p)) + λ·D(x) + β·λ·PSNR(x, f(x_p)), β = {Num(BetaWeight)}"
            : $"quality attack, dynamic loss (Eq. 7 with a rate ratio, not in the paper): R(x) + max(R(x_p) − ρ·sg(R(x)), 0) + λ·D(x) + β·λ·PSNR(x, f(x_p)), ρ = {Num(RateRatio)}, β = {Num(BetaWeight)}")
        : $"quality attack, static loss (Eq. 5): L(x) + α·R(x_p) + β·λ·PSNR(x, f(x_p)), α = {Num(AlphaWeight)}, β = {Num(BetaWeight)}")
        + (PsnrFloor is double f ? $"; each poisoned image's PSNR floored at {Num(f)} dB (mean of max(PSNR_i, F), not in the paper)" : "");

    public override IReadOnlyList<string> TermNames { get; } = ["bpp_p", "psnr_p"];

    public override ObjectiveTerms Compute(ObjectiveInput input)
    {
        var rate = input.PoisonedRate;
        var psnr = input.PoisonedPsnr;
        // With a ratio the clean rate is a target, not a variable: a live R(x) would let the hinge reward a higher clean
        // rate (gradient −ρ on R(x) against the clean term's +1). At ρ = 1 the term is the paper's max(R(x), R(x_p)).
        var cleanRate = RateRatio == 1 ? input.CleanRate : input.CleanRate.detach() * RateRatio;
        var rateTerm = IsDynamic ? (rate - cleanRate).clamp_min(0) : rate * AlphaWeight;
        var rewarded = PsnrFloor is double floor ? input.PoisonedPsnrPerImage.clamp_min(floor).mean() : psnr;
        var attack = rateTerm + rewarded * (BetaWeight * input.Lambda);
        return new ObjectiveTerms(attack, [("bpp_p", rate), ("psnr_p", psnr)]);
    }
}
