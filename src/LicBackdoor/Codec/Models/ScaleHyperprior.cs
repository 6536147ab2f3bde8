using LicBackdoor.Codec.Entropy;
using LicBackdoor.Codec.Layers;
using TorchSharp.Modules;
using static LicBackdoor.Codec.Layers.ConvLayers;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Models;

/// <summary>
/// Scale hyperprior model of Ballé, Minnen, Singh, Hwang, Johnston, "Variational image compression with a
/// scale hyperprior" (ICLR 2018), as CompressAI's <c>bmshj2018-hyperprior</c>:
/// <code>
/// x ─g_a─► y ─|·|─h_a─► z ─Q─► ẑ ─h_s─► σ ;  ŷ = Q(y) coded with N(0, σ²) ;  x̂ = g_s(ŷ)
/// </code>
/// g_a/g_s: four 5x5 stride-2 (de)convs with GDN/IGDN; h_a/h_s with ReLU. State-dict keys are
/// CompressAI's (<c>g_a.0.weight</c>, <c>entropy_bottleneck.quantiles</c>, …).
/// </summary>
public sealed class ScaleHyperprior : CompressionModel
{
    /// <summary>Registry name, as in CompressAI's zoo.</summary>
    public const string Name = "bmshj2018-hyperprior";

    private readonly Sequential g_a, g_s, h_a, h_s;
    private readonly EntropyBottleneck entropy_bottleneck;
    private readonly GaussianConditional gaussian_conditional;

    public ScaleHyperprior(int n = 128, int m = 192) : base(nameof(ScaleHyperprior))
    {
        if (n <= 0 || m <= 0) throw new ArgumentOutOfRangeException(nameof(n), "N and M must be positive");
        N = n; M = m;
        g_a = Numbered(Conv(3, n), new Gdn(n), Conv(n, n), new Gdn(n), Conv(n, n), new Gdn(n), Conv(n, m));
        g_s = Numbered(Deconv(m, n), new Gdn(n, inverse: true), Deconv(n, n), new Gdn(n, inverse: true),
            Deconv(n, n), new Gdn(n, inverse: true), Deconv(n, 3));
        h_a = Numbered(Conv(m, n, 3, 1), nn.ReLU(), Conv(n, n), nn.ReLU(), Conv(n, n));
        h_s = Numbered(Deconv(n, n), nn.ReLU(), Deconv(n, n), nn.ReLU(), Conv(n, m, 3, 1), nn.ReLU());
        entropy_bottleneck = new EntropyBottleneck(n);
        gaussian_conditional = new GaussianConditional();
        register_module("g_a", g_a);
        register_module("g_s", g_s);
        register_module("h_a", h_a);
        register_module("h_s", h_s);
        register_module("entropy_bottleneck", entropy_bottleneck);
        register_module("gaussian_conditional", gaussian_conditional);
    }

    public int N { get; }
    public int M { get; }
    public override string ModelName => Name;

    /// <summary>g_a: image → y.</summary>
    public override Sequential Analysis => g_a;
    /// <summary>g_s: ŷ → image.</summary>
    public Sequential Synthesis => g_s;
    /// <summary>h_a: |y| → z.</summary>
    public Sequential HyperAnalysis => h_a;
    /// <summary>h_s: ẑ → σ.</summary>
    public Sequential HyperSynthesis => h_s;
    public override EntropyBottleneck EntropyBottleneck => entropy_bottleneck;
    public override GaussianConditional GaussianConditional => gaussian_conditional;

    public override CodecOutput forward(Tensor x)
    {
        var (yHat, _, likelihoods) = LatentForward(g_a.forward(x));
        return new CodecOutput(g_s.forward(yHat), likelihoods);
    }

    public override CodecOutput ForwardStraightThrough(Tensor x)
    {
        var y = g_a.forward(x);
        var (zHat, zLik) = entropy_bottleneck.Forward(h_a.forward(y.abs()), training: false, straightThrough: true);
        var (yHat, yLik) = gaussian_conditional.Forward(y, h_s.forward(zHat), training: false, straightThrough: true);
        return new CodecOutput(g_s.forward(yHat), new Dictionary<string, Tensor> { ["y"] = yLik, ["z"] = zLik });
    }

    /// <summary>
    /// The hyperprior path of <see cref="forward"/> from a latent y [N,M,h,w]: ŷ (noisy in training, rounded otherwise),
    /// the predicted scales σ and the likelihoods of y and z. For analyses that perturb the latent itself.
    /// </summary>
    /// <param name="y">The latent, as g_a would produce it.</param>
    /// <param name="training">Quantise as in training (additive noise); default: the modules' mode.</param>
    public (Tensor YHat, Tensor Scales, IReadOnlyDictionary<string, Tensor> Likelihoods) LatentForward(Tensor y, bool? training = null)
    {
        var z = h_a.forward(y.abs());
        var (zHat, zLik) = entropy_bottleneck.Forward(z, training);
        var scales = h_s.forward(zHat);
        var (yHat, yLik) = gaussian_conditional.Forward(y, scales, training: training);
        return (yHat, scales, new Dictionary<string, Tensor> { ["y"] = yLik, ["z"] = zLik });
    }

    /// <summary>
    /// Entropy codes a latent y [N,M,h,w] exactly as <see cref="CompressionModel.Compress"/> codes g_a(x), on
    /// <see cref="CodecThreads.Count"/> threads: for analyses that perturb the latent itself.
    /// </summary>
    public CompressedLatents CompressLatent(Tensor y) => CodecThreads.Run(() =>
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return CodeLatent(y).Latents;
    });

    internal override (CompressedLatents Latents, Tensor YHat) CompressLatents(Tensor x) => CodeLatent(g_a.forward(x));

    private (CompressedLatents Latents, Tensor YHat) CodeLatent(Tensor y)
    {
        var z = h_a.forward(y.abs());
        var (zStrings, zHat) = CodeHyperLatent(z);
        var indexes = CodecThreads.Run(() => gaussian_conditional.BuildIndexes(h_s.forward(zHat)));
        var yStrings = gaussian_conditional.Compress(y, indexes);
        var latents = new CompressedLatents(yStrings, zStrings, (int)z.shape[2], (int)z.shape[3]);
        return (latents, torch.round(y).MoveToOuterDisposeScope());
    }

    internal override Tensor DecodeLatents(CompressedLatents latents)
    {
        var zHat = DecodeHyperLatent(latents.ZStrings, latents.ZHeight, latents.ZWidth);
        var indexes = CodecThreads.Run(() => gaussian_conditional.BuildIndexes(h_s.forward(zHat)));
        return gaussian_conditional.Decompress(latents.YStrings, indexes);
    }

    public override Tensor Synthesize(Tensor yHat) => g_s.forward(yHat);
}
