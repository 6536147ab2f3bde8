using static TorchSharp.torch;

namespace LicBackdoor.Codec.Ops;

/// <summary>
/// The non-negative reparametrisation used by GDN (Ballé et al. 2016; CompressAI
/// <c>NonNegativeParametrizer</c>): a stored parameter <c>p</c> represents
/// <c>LowerBound(p, sqrt(minimum + pedestal))² - pedestal</c> with <c>pedestal = reparam_offset²</c>.
/// Buffers: <c>pedestal</c> and <c>lower_bound.bound</c>.
/// </summary>
public sealed class NonNegativeParametrizer : nn.Module<Tensor, Tensor>
{
    /// <summary>CompressAI's default reparametrisation offset, 2^-18.</summary>
    public const double DefaultReparamOffset = 1.0 / (1 << 18);

    private readonly Tensor pedestal;
    private readonly LowerBound lower_bound;

    public NonNegativeParametrizer(double minimum = 0, double reparamOffset = DefaultReparamOffset)
        : base(nameof(NonNegativeParametrizer))
    {
        double ped = reparamOffset * reparamOffset;
        pedestal = torch.tensor(new[] { (float)ped });
        lower_bound = new LowerBound(Math.Sqrt(minimum + ped));
        register_buffer("pedestal", pedestal);
        register_module("lower_bound", lower_bound);
    }

    /// <summary>The stored value that represents <paramref name="x"/>: <c>sqrt(max(x + pedestal, pedestal))</c>.</summary>
    public Tensor Init(Tensor x) => torch.sqrt(torch.maximum(x + pedestal, pedestal));

    public override Tensor forward(Tensor p)
    {
        var bounded = lower_bound.forward(p);
        // add with a kept alpha of -1, not `- pedestal`: the operator passes a temporary Scalar alpha that the GC can
        // finalise during the native call (Runtime/KeptScalars).
        return (bounded * bounded).add(pedestal, Runtime.KeptScalars.MinusOne);
    }
}
