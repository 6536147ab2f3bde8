using static TorchSharp.torch;

namespace LicBackdoor.Codec.Ops;

/// <summary>Rounding helpers shared by the entropy models.</summary>
public static class Quantization
{
    /// <summary>Straight-through rounding: the forward pass rounds, the gradient is the identity (CompressAI <c>quantize_ste</c>).</summary>
    public static Tensor RoundSte(Tensor x) => (torch.round(x) - x).detach() + x;

    /// <summary>Uniform noise in [-0.5, 0.5), the training-time proxy for rounding.</summary>
    public static Tensor AddUniformNoise(Tensor x) => x + torch.empty_like(x).uniform_(-0.5, 0.5);
}
