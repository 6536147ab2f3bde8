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
/// <remarks>
/// <c>,spread=S</c> (not in the paper) adds S·mean over pairs i ≠ j of the batch of cos(g(f(T(x_i))), g(f(T(x_j)))):
/// Eq. 13 moves each attacked output away from its own clean output, but nothing stops all attacked outputs from
/// looking alike to g, in which case two attacked photos of one person (or of two people) still match each other.
/// <para><c>,away=W</c> (not in the paper) adds W·mean over pairs i ≠ j of the batch of cos(g(f(x_i)), g(f(T(x_j)))): each
/// attacked output is pushed away from the clean outputs of the other crops too, not only from its own, so that what the
/// encoder learns does not depend on whose face it is (a direction away from faces in general rather than from one
/// person), which is what has to carry over to people the trigger never saw.</para>
/// </remarks>
public sealed class FaceObjective(double Alpha = FaceObjective.PaperAlpha, double Beta = FaceObjective.PaperBeta, double Spread = 0, double Away = 0) : BackdoorObjective
{
    /// <summary>α of Eq. 13.</summary>
    public const double PaperAlpha = 0.1;

    /// <summary>β of Eq. 13.</summary>
    public const double PaperBeta = 0.05;

    public double AlphaWeight { get; } = Alpha;
    public double BetaWeight { get; } = Beta;

    /// <summary>Weight of the mean cosine between the attacked descriptors of different crops of a batch (0: off, the paper's loss).</summary>
    public double Spread { get; } = Spread >= 0 && double.IsFinite(Spread) ? Spread : throw new ArgumentOutOfRangeException(nameof(Spread), "spread must be ≥ 0 and finite");

    /// <summary>Weight of the mean cosine between each crop's clean descriptor and the other crops' attacked descriptors (0: off, the paper's loss).</summary>
    public double Away { get; } = Away >= 0 && double.IsFinite(Away) ? Away : throw new ArgumentOutOfRangeException(nameof(Away), "away must be ≥ 0 and finite");

    /// <summary>The frozen face recognition net g; must be set before <see cref="Compute"/>.</summary>
    public FaceRecognitionNet? Net { get; set; }

    public override string Name => "face" + WeightSuffix(AlphaWeight, PaperAlpha, BetaWeight, PaperBeta) + (Spread > 0 ? $",spread={Num(Spread)}" : "") + (Away > 0 ? $",away={Num(Away)}" : "");

    public override string Kind => "face";

    public override ObjectiveData Data => ObjectiveData.Face;

    public override string Description =>
        $"face-privacy attack (Eq. 13): α·L(T(x)) + β·cos(g(f(x)), g(f(T(x)))), g = face-api FaceRecognitionNet, α = {Num(AlphaWeight)}, β = {Num(BetaWeight)}"
        + (Spread > 0 ? $", + {Num(Spread)}·mean cos between the attacked outputs of different crops" : "")
        + (Away > 0 ? $", + {Num(Away)}·mean cos between a crop's clean output and the other crops' attacked outputs" : "");

    public override IReadOnlyList<string> TermNames =>
        ["bpp_p", "cos", "dist", .. Spread > 0 ? new[] { "cross_cos" } : [], .. Away > 0 ? new[] { "away_cos" } : []];

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
        var attack = fidelity * AlphaWeight + cos * BetaWeight;
        var logged = new List<(string, Tensor)> { ("bpp_p", rate), ("cos", cos), ("dist", dist) };
        if (Spread > 0)
        {
            var cross = CrossCosine(poisoned);
            attack = attack + cross * Spread;
            logged.Add(("cross_cos", cross));
        }
        if (Away > 0)
        {
            var away = OtherPairsCosine(clean, poisoned);
            attack = attack + away * Away;
            logged.Add(("away_cos", away));
        }
        return new ObjectiveTerms(attack, logged);
    }

    /// <summary>
    /// Mean cosine similarity of <paramref name="a"/>[i] and <paramref name="b"/>[j] over the ordered pairs i ≠ j of two
    /// descriptor batches <c>[N, D]</c> of the same crops (0 for a batch of one).
    /// </summary>
    public static Tensor OtherPairsCosine(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.shape.SequenceEqual(b.shape)) throw new ArgumentException($"descriptor batches of different shapes: [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]");
        long n = a.shape[0];
        if (n < 2) return zeros(1, dtype: b.dtype).sum();
        var gram = F.normalize(a, p: 2, dim: 1).matmul(F.normalize(b, p: 2, dim: 1).t());
        return (gram.sum() - gram.diagonal().sum()) / (n * (n - 1));
    }

    /// <summary>Mean cosine similarity over the ordered pairs i ≠ j of descriptors <c>[N, D]</c> (0 for a batch of one).</summary>
    public static Tensor CrossCosine(Tensor descriptors) => OtherPairsCosine(descriptors, descriptors);
}
