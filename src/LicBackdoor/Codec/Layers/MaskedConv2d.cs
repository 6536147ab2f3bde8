using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Layers;

/// <summary>Mask type of a <see cref="MaskedConv2d"/> (van den Oord et al., PixelCNN).</summary>
public enum MaskType
{
    /// <summary>Excludes the centre tap: the output at a position sees only strictly earlier positions.</summary>
    A,
    /// <summary>Includes the centre tap.</summary>
    B,
}

/// <summary>
/// A 2-D convolution whose kernel is masked so that each output only sees positions earlier in raster
/// order (the context model of Minnen et al. 2018 and Cheng et al. 2020). The mask is a persistent
/// buffer <c>mask</c> of the weight's shape: row <c>kh/2</c> is zero from column <c>kw/2</c> (type A) or
/// <c>kw/2+1</c> (type B) on, and every row below it is zero. Keys: <c>weight</c>, <c>bias</c>, <c>mask</c>.
/// </summary>
public sealed class MaskedConv2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly Tensor mask;

    public MaskedConv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0,
        MaskType maskType = MaskType.A, bool useBias = true) : base(nameof(MaskedConv2d))
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0)
            throw new ArgumentException("MaskedConv2d: channels, kernel size and stride must be positive and padding non-negative.");
        InChannels = inChannels; OutChannels = outChannels; KernelSize = kernelSize; Stride = stride; Padding = padding;
        MaskType = maskType;
        // Same initialisation as a PyTorch Conv2d (kaiming-uniform weight, uniform bias).
        using var template = nn.Conv2d(inChannels, outChannels, kernelSize, stride, padding, bias: useBias);
        weight = new Parameter(template.weight!.detach().clone());
        register_parameter("weight", weight);
        if (useBias)
        {
            bias = new Parameter(template.bias!.detach().clone());
            register_parameter("bias", bias);
        }
        mask = BuildMask(outChannels, inChannels, kernelSize, kernelSize, maskType);
        register_buffer("mask", mask);
        using (no_grad()) weight.mul_(mask);
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }
    public MaskType MaskType { get; }

    /// <summary>The raw (unmasked) weight parameter [out, in, k, k].</summary>
    public Parameter Weight => weight;

    /// <summary>The bias parameter, if any.</summary>
    public Parameter? Bias => bias;

    /// <summary>The mask buffer [out, in, k, k].</summary>
    public Tensor Mask => mask;

    /// <summary>The mask for a kernel of the given shape (CompressAI semantics, including 1-D kernels).</summary>
    public static Tensor BuildMask(long outChannels, long inChannels, long kh, long kw, MaskType type)
    {
        var m = ones(outChannels, inChannels, kh, kw);
        long h = kh / 2, w = kw / 2;
        long from = type == MaskType.A ? w : w + 1;
        if (from < kw) m[.., .., (int)h, TensorIndex.Slice(from)] = 0;
        if (h + 1 < kh) m[.., .., TensorIndex.Slice(h + 1), ..] = 0;
        return m;
    }

    /// <summary>The effective (masked) weight.</summary>
    public Tensor MaskedWeight() => weight * mask;

    public override Tensor forward(Tensor x) =>
        nn.functional.conv2d(x, MaskedWeight(), bias, strides: new long[] { Stride, Stride }, padding: new long[] { Padding, Padding });
}
