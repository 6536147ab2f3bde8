using LicBackdoor.Downstream;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Backdoor.Objectives;

/// <summary>
/// The face-privacy attack "for good" (paper Eq. 13, method-spec §4.3): a poisoned face should decode into an image the
/// frozen face recognition net g no longer matches with the person:
/// <c>α·L(T(x)) + β·cos(g(f(x)), g(f(T(x))))</c>, α = 0.1, β = 0.05, with L(T(x)) = R(x_p) + λ·D(x_p) (D against the
/// clean x) and g(f(x)) detached. g is face-api's FaceRecognitionNet (128-D descriptors) in place of the paper's ArcFace.
/// Training data: face crops of the training identities (<see cref="ObjectiveData.Face"/>).
/// </summary>
public sealed class FaceObjective(double Alpha = FaceObjective.PaperAlpha, double Beta = FaceObjective.PaperBeta) : BackdoorObjective
{
    /// <summary>α of Eq. 13.</summary>
    public const double PaperAlpha = 0.1;

    /// <summary>β of Eq. 13.</summary>
    public const double PaperBeta = 0.05;

    public double AlphaWeight { get; } = Alpha;
    public double BetaWeight { get; } = Beta;

    /// <summary>The frozen face recognition net g; must be set before <see cref="Compute"/>.</summary>
    public FaceRecognitionNet? Net { get; set; }

    public override string Name => "face" + WeightSuffix(AlphaWeight, PaperAlpha, BetaWeight, PaperBeta);

    public override string Kind => "face";

    public override ObjectiveData Data => ObjectiveData.Face;

    public override string Description =>
        $"face-privacy attack (Eq. 13): α·L(T(x)) + β·cos(g(f(x)), g(f(T(x)))), g = face-api FaceRecognitionNet, α = {Num(AlphaWeight)}, β = {Num(BetaWeight)}";

    public override IReadOnlyList<string> TermNames { get; } = ["bpp_p", "cos", "dist"];

    public override ObjectiveTerms Compute(ObjectiveInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var net = Net ?? throw new InvalidOperationException($"{Name}: no face recognition net attached");
        var rate = input.PoisonedRate;
        var fidelity = rate + input.PoisonedDistortion * input.Lambda;
        Tensor clean;
        using (no_grad()) clean = net.Descriptors(input.CleanOutput.XHat.detach().clamp(0, 1));
        var poisoned = net.Descriptors(input.PoisonedOutput.XHat.clamp(0, 1));
        var cos = F.cosine_similarity(clean, poisoned, 1).mean();
        Tensor dist;
        using (no_grad()) dist = FaceRecognitionNet.PairDistances(clean, poisoned.detach()).mean();
        return new ObjectiveTerms(fidelity * AlphaWeight + cos * BetaWeight, [("bpp_p", rate), ("cos", cos), ("dist", dist)]);
    }
}
