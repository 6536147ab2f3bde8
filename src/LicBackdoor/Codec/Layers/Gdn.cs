using LicBackdoor.Codec.Ops;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Layers;

/// <summary>
/// Generalized divisive normalisation (Ballé, Laparra, Simoncelli, ICLR 2016):
/// <c>y_i = x_i / sqrt(beta_i + Σ_j gamma_ij x_j²)</c>, or its inverse (IGDN) <c>y_i = x_i · sqrt(…)</c>.
/// <c>gamma</c> is laid out as a 1x1 conv weight (row = output channel), beta and gamma are stored
/// reparametrised (<see cref="NonNegativeParametrizer"/>). State-dict keys: <c>beta</c>, <c>gamma</c>,
/// <c>beta_reparam.*</c>, <c>gamma_reparam.*</c>, as in CompressAI.
/// </summary>
public sealed class Gdn : nn.Module<Tensor, Tensor>
{
    private readonly Parameter beta;
    private readonly Parameter gamma;
    private readonly NonNegativeParametrizer beta_reparam;
    private readonly NonNegativeParametrizer gamma_reparam;

    public Gdn(int channels, bool inverse = false, double betaMin = 1e-6, double gammaInit = 0.1)
        : base(inverse ? "IGDN" : "GDN")
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels));
        Inverse = inverse;
        Channels = channels;
        beta_reparam = new NonNegativeParametrizer(minimum: betaMin);
        gamma_reparam = new NonNegativeParametrizer();
        using (no_grad())
        {
            beta = new Parameter(beta_reparam.Init(ones(channels)));
            gamma = new Parameter(gamma_reparam.Init(eye(channels) * (float)gammaInit));
        }
        register_parameter("beta", beta);
        register_parameter("gamma", gamma);
        register_module("beta_reparam", beta_reparam);
        register_module("gamma_reparam", gamma_reparam);
    }

    /// <summary>True for IGDN (multiplies instead of divides).</summary>
    public bool Inverse { get; }

    public int Channels { get; }

    public override Tensor forward(Tensor x)
    {
        var b = beta_reparam.forward(beta);
        var g = gamma_reparam.forward(gamma).view(Channels, Channels, 1, 1);
        if (!torch.is_grad_enabled() || !(x.requires_grad || beta.requires_grad || gamma.requires_grad))
        {
            // Inference: the same arithmetic with in-place ops, saving three full-size temporaries.
            using var squared = x * x;
            var n = nn.functional.conv2d(squared, g, b);
            (Inverse ? n.sqrt_() : n.rsqrt_()).mul_(x);
            return n;
        }
        var norm = nn.functional.conv2d(x * x, g, b);
        return Inverse ? x * torch.sqrt(norm) : x * torch.rsqrt(norm);
    }
}
