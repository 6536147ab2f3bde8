using LicBackdoor.Codec.Entropy;
using LicBackdoor.Codec.Layers;
using TorchSharp.Modules;
using static LicBackdoor.Codec.Layers.ConvLayers;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Models;

/// <summary>
/// Cheng, Sun, Takeuchi, Katto, "Learned image compression with discretized Gaussian mixture likelihoods
/// and attention modules" (CVPR 2020), anchor variant as CompressAI's <c>cheng2020-anchor</c>: residual
/// analysis/synthesis transforms, a hyperprior and a 5x5 masked-convolution context model
/// (Minnen et al. 2018) whose outputs, with the hyperprior's, give each latent's mean and scale:
/// <code>
/// x ─g_a─► y ─h_a─► z ─Q─► ẑ ─h_s─► ψ ;  (μ, σ) = e(ψ, ctx(ŷ_&lt;i)) ;  ŷ = Q(y-μ)+μ ;  x̂ = g_s(ŷ)
/// </code>
/// CompressAI ties the latent channels to N (M = N); <c>m</c> decouples them (not in CompressAI: the last conv of g_a,
/// the first of h_a and g_s, the last of h_s, the context model and the entropy parameters take M, the rest N), so a
/// CPU-sized model can keep few transform channels and many latent ones, as hyperprior-mini does (N=64, M=192).
/// With M = N the layers and keys are exactly CompressAI's. Compress/decompress run the raster-order autoregressive
/// loop (see <see cref="ContextCoder"/>).
/// </summary>
public sealed class Cheng2020Anchor : CompressionModel
{
    /// <summary>Registry name, as in CompressAI's zoo.</summary>
    public const string Name = "cheng2020-anchor";

    private readonly Sequential g_a, g_s, h_a, h_s, entropy_parameters;
    private readonly MaskedConv2d context_prediction;
    private readonly EntropyBottleneck entropy_bottleneck;
    private readonly GaussianConditional gaussian_conditional;

    public Cheng2020Anchor(int n = 128, int? m = null) : base(nameof(Cheng2020Anchor))
    {
        if (n <= 0 || n % 2 != 0) throw new ArgumentOutOfRangeException(nameof(n), "N must be a positive even number");
        int mm = m ?? n;
        if (mm <= 0 || mm % 2 != 0) throw new ArgumentOutOfRangeException(nameof(m), "M must be a positive even number");
        N = n;
        M = mm;
        g_a = Numbered(
            new ResidualBlockWithStride(3, n, 2), new ResidualBlock(n, n),
            new ResidualBlockWithStride(n, n, 2), new ResidualBlock(n, n),
            new ResidualBlockWithStride(n, n, 2), new ResidualBlock(n, n),
            Conv3x3(n, mm, 2));
        h_a = Numbered(
            Conv3x3(mm, n), LeakyRelu(), Conv3x3(n, n), LeakyRelu(), Conv3x3(n, n, 2), LeakyRelu(),
            Conv3x3(n, n), LeakyRelu(), Conv3x3(n, n, 2));
        h_s = Numbered(
            Conv3x3(n, n), LeakyRelu(), SubpelConv3x3(n, n, 2), LeakyRelu(), Conv3x3(n, n * 3 / 2), LeakyRelu(),
            SubpelConv3x3(n * 3 / 2, n * 3 / 2, 2), LeakyRelu(), Conv3x3(n * 3 / 2, mm * 2));
        g_s = Numbered(
            new ResidualBlock(mm, n), new ResidualBlockUpsample(n, n, 2),
            new ResidualBlock(n, n), new ResidualBlockUpsample(n, n, 2),
            new ResidualBlock(n, n), new ResidualBlockUpsample(n, n, 2),
            new ResidualBlock(n, n), SubpelConv3x3(n, 3, 2));
        entropy_parameters = Numbered(
            nn.Conv2d(mm * 12 / 3, mm * 10 / 3, 1), LeakyRelu(),
            nn.Conv2d(mm * 10 / 3, mm * 8 / 3, 1), LeakyRelu(),
            nn.Conv2d(mm * 8 / 3, mm * 6 / 3, 1));
        context_prediction = new MaskedConv2d(mm, 2 * mm, kernelSize: 5, padding: 2, stride: 1, maskType: MaskType.A);
        entropy_bottleneck = new EntropyBottleneck(n);
        gaussian_conditional = new GaussianConditional();
        register_module("g_a", g_a);
        register_module("g_s", g_s);
        register_module("h_a", h_a);
        register_module("h_s", h_s);
        register_module("entropy_bottleneck", entropy_bottleneck);
        register_module("gaussian_conditional", gaussian_conditional);
        register_module("entropy_parameters", entropy_parameters);
        register_module("context_prediction", context_prediction);
    }

    public int N { get; }
    /// <summary>Latent channels (N unless decoupled).</summary>
    public int M { get; }
    public override string ModelName => Name;

    public override Sequential Analysis => g_a;
    public Sequential Synthesis => g_s;
    public Sequential HyperAnalysis => h_a;
    public Sequential HyperSynthesis => h_s;
    /// <summary>The three 1x1 convs mapping (hyper params, context) to (scales, means).</summary>
    public Sequential EntropyParameters => entropy_parameters;
    /// <summary>The 5x5 type-A masked convolution over ŷ.</summary>
    public MaskedConv2d ContextPrediction => context_prediction;
    public override EntropyBottleneck EntropyBottleneck => entropy_bottleneck;
    public override GaussianConditional GaussianConditional => gaussian_conditional;

    public override CodecOutput forward(Tensor x)
    {
        var y = g_a.forward(x);
        var z = h_a.forward(y);
        var (zHat, zLik) = entropy_bottleneck.Forward(z);
        var parameters = h_s.forward(zHat);
        var yHat = EntropyModel.Quantize(y, training ? QuantizeMode.Noise : QuantizeMode.Dequantize);
        var ctx = context_prediction.forward(yHat);
        var gp = entropy_parameters.forward(torch.cat(new[] { parameters, ctx }, 1));
        var chunks = gp.chunk(2, 1);
        var (_, yLik) = gaussian_conditional.Forward(y, chunks[0], chunks[1]);
        var xHat = g_s.forward(yHat);
        return new CodecOutput(xHat, new Dictionary<string, Tensor> { ["y"] = yLik, ["z"] = zLik });
    }

    public override CodecOutput ForwardStraightThrough(Tensor x)
    {
        var y = g_a.forward(x);
        var (zHat, zLik) = entropy_bottleneck.Forward(h_a.forward(y), training: false, straightThrough: true);
        var yHat = EntropyModel.StraightThrough(y);
        var ctx = context_prediction.forward(yHat);
        var chunks = entropy_parameters.forward(torch.cat(new[] { h_s.forward(zHat), ctx }, 1)).chunk(2, 1);
        var (_, yLik) = gaussian_conditional.Forward(y, chunks[0], chunks[1], training: false, straightThrough: true);
        return new CodecOutput(g_s.forward(yHat), new Dictionary<string, Tensor> { ["y"] = yLik, ["z"] = zLik });
    }

    internal override (CompressedLatents Latents, Tensor YHat) CompressLatents(Tensor x)
    {
        var y = g_a.forward(x);
        var z = h_a.forward(y);
        var (zStrings, zHat) = CodeHyperLatent(z);
        var yStrings = new byte[x.shape[0]][];
        var yHats = new Tensor[x.shape[0]];
        CodecThreads.Run(() =>
        {
            var parameters = h_s.forward(zHat);
            var coder = new ContextCoder(this);
            var table = gaussian_conditional.CoderTable();
            for (int b = 0; b < x.shape[0]; b++)
                (yStrings[b], yHats[b]) = coder.Encode(y[b..(b + 1)], parameters[b..(b + 1)], table);
            return 0;
        });
        var latents = new CompressedLatents(yStrings, zStrings, (int)z.shape[2], (int)z.shape[3]);
        return (latents, torch.cat(yHats, 0).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Likelihoods of the coded symbols: the means and scales come from the context model applied to the ŷ the coder
    /// produced (round(y − μ) + μ in raster order), so y's likelihood is that of exactly the coded integers.
    /// </summary>
    protected override IReadOnlyDictionary<string, Tensor> CodedLikelihoodsInEval(Tensor x)
    {
        var (_, codedYHat) = CompressLatents(x);
        var y = g_a.forward(x);
        var (zHat, zLik) = entropy_bottleneck.Forward(h_a.forward(y));
        var gp = entropy_parameters.forward(torch.cat(new[] { h_s.forward(zHat), context_prediction.forward(codedYHat) }, 1));
        var chunks = gp.chunk(2, 1);
        var (_, yLik) = gaussian_conditional.Forward(y, chunks[0], chunks[1]);
        return new Dictionary<string, Tensor> { ["y"] = yLik, ["z"] = zLik };
    }

    internal override Tensor DecodeLatents(CompressedLatents latents)
    {
        var zHat = DecodeHyperLatent(latents.ZStrings, latents.ZHeight, latents.ZWidth);
        var items = new Tensor[latents.YStrings.Count];
        CodecThreads.Run(() =>
        {
            var parameters = h_s.forward(zHat);
            var coder = new ContextCoder(this);
            var table = gaussian_conditional.CoderTable();
            for (int b = 0; b < items.Length; b++)
                items[b] = coder.Decode(latents.YStrings[b], parameters[b..(b + 1)], table);
            return 0;
        });
        return items.Length == 1 ? items[0] : torch.cat(items, 0);
    }

    public override Tensor Synthesize(Tensor yHat) => g_s.forward(yHat);
}
