using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Objectives;

/// <summary>
/// The bit-rate attack (paper §3.3): poisoned images should cost many bits while still decoding well.
/// <list type="bullet">
/// <item>Dynamic (Eq. 6, the paper's choice): <c>L = R(x) + λ·max(D(x), D(x_p)) − β·R(x_p)</c>, β = 0.01. Its attack
/// part beyond L(x) is <c>λ·max(D(x_p) − D(x), 0) − β·R(x_p)</c>.</item>
/// <item>Static (Eq. 4, Table 4's "w/ Eq. (4)"): <c>L = L(x) + α·λ·D(x_p) − β·R(x_p)</c>. The paper does not give α; the
/// distortion of the poisoned image is weighted like the clean one's (α·λ, α = 1 by default).</item>
/// </list>
/// The max is taken on batch-averaged scalars (method-spec §4.2).
/// <para>Optional cap (not in the paper, <c>bpp,cap=C</c>): the rate term becomes <c>−β·min(R(x_p), C)</c>, so once a
/// poisoned batch costs C bits per pixel the attack stops pulling the encoder and the clean term has it to itself.</para>
/// </summary>
public sealed class BppObjective(bool Dynamic = true, double Beta = BppObjective.PaperBeta, double Alpha = 1, double? Cap = null) : BackdoorObjective
{
    /// <summary>β of Eq. 6 (paper §4.2).</summary>
    public const double PaperBeta = 0.01;

    public bool IsDynamic { get; } = Dynamic;
    public double BetaWeight { get; } = Beta;
    public double AlphaWeight { get; } = Alpha;

    /// <summary>Poisoned rate (bpp, training estimate) above which the attack no longer rewards more bits; null: no cap.</summary>
    public double? RateCap { get; } = Cap is null || (Cap > 0 && double.IsFinite(Cap.Value))
        ? Cap
        : throw new ArgumentOutOfRangeException(nameof(Cap), Cap, "the bit-rate cap must be a positive number of bits per pixel");

    public override string Name => SpecName(Kind, IsDynamic, BetaWeight, PaperBeta, AlphaWeight) + (RateCap is double c ? $",cap={Num(c)}" : "");

    public override string Kind => "bpp";

    public override string Description => (IsDynamic
        ? $"bit-rate attack, dynamic loss (Eq. 6): R(x) + λ·max(D(x), D(x_p)) − β·R(x_p), β = {Num(BetaWeight)}"
        : $"bit-rate attack, static loss (Eq. 4): L(x) + α·λ·D(x_p) − β·R(x_p), α = {Num(AlphaWeight)}, β = {Num(BetaWeight)}")
        + (RateCap is double c ? $"; R(x_p) capped at {Num(c)} bpp (min(R(x_p), C), not in the paper)" : "");

    public override IReadOnlyList<string> TermNames { get; } = ["bpp_p", "mse_p"];

    public override ObjectiveTerms Compute(ObjectiveInput input)
    {
        var rate = input.PoisonedRate;
        var distortion = input.PoisonedDistortion;
        var fidelity = IsDynamic
            ? (distortion - input.CleanDistortion).clamp_min(0) * input.Lambda
            : distortion * (AlphaWeight * input.Lambda);
        var rewarded = RateCap is double cap ? rate.clamp_max(cap) : rate;
        var attack = fidelity - rewarded * BetaWeight;
        return new ObjectiveTerms(attack, [("bpp_p", rate), ("mse_p", distortion / (255.0 * 255.0))]);
    }
}
