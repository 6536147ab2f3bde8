using TorchSharp.Modules;
using static LicBackdoor.Codec.Layers.ConvLayers;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Layers;

/// <summary>
/// Residual block with a strided first conv and a GDN (Cheng et al. 2020, Fig. 2):
/// <c>gdn(conv2(lrelu(conv1(x)))) + skip(x)</c>, where <c>skip</c> is a strided 1x1 conv when the shape changes.
/// Keys: <c>conv1</c>, <c>conv2</c>, <c>gdn</c>, <c>skip</c>.
/// </summary>
public sealed class ResidualBlockWithStride : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly LeakyReLU leaky_relu;
    private readonly Gdn gdn;
    private readonly Conv2d? skip;

    public ResidualBlockWithStride(int inCh, int outCh, int stride = 2) : base(nameof(ResidualBlockWithStride))
    {
        conv1 = Conv3x3(inCh, outCh, stride);
        leaky_relu = LeakyRelu();
        conv2 = Conv3x3(outCh, outCh);
        gdn = new Gdn(outCh);
        skip = stride != 1 || inCh != outCh ? Conv1x1(inCh, outCh, stride) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var identity = skip is null ? x : skip.forward(x);
        return gdn.forward(conv2.forward(leaky_relu.forward(conv1.forward(x)))) + identity;
    }
}

/// <summary>
/// Plain residual block: <c>lrelu(conv2(lrelu(conv1(x)))) + skip(x)</c> (the second activation comes before
/// the addition, as in CompressAI). Keys: <c>conv1</c>, <c>conv2</c>, <c>skip</c> (only when in != out).
/// </summary>
public sealed class ResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly LeakyReLU leaky_relu;
    private readonly Conv2d? skip;

    public ResidualBlock(int inCh, int outCh) : base(nameof(ResidualBlock))
    {
        conv1 = Conv3x3(inCh, outCh);
        leaky_relu = LeakyRelu();
        conv2 = Conv3x3(outCh, outCh);
        skip = inCh != outCh ? Conv1x1(inCh, outCh) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var identity = skip is null ? x : skip.forward(x);
        var h = leaky_relu.forward(conv1.forward(x));
        return leaky_relu.forward(conv2.forward(h)) + identity;
    }
}

/// <summary>
/// Upsampling residual block (Cheng et al. 2020): <c>igdn(conv(lrelu(subpel_conv(x)))) + upsample(x)</c>,
/// both branches sub-pixel convolutions. Keys: <c>subpel_conv.0</c>, <c>conv</c>, <c>igdn</c>, <c>upsample.0</c>.
/// </summary>
public sealed class ResidualBlockUpsample : nn.Module<Tensor, Tensor>
{
    private readonly Sequential subpel_conv, upsample;
    private readonly LeakyReLU leaky_relu;
    private readonly Conv2d conv;
    private readonly Gdn igdn;

    public ResidualBlockUpsample(int inCh, int outCh, int factor = 2) : base(nameof(ResidualBlockUpsample))
    {
        subpel_conv = SubpelConv3x3(inCh, outCh, factor);
        leaky_relu = LeakyRelu();
        conv = Conv3x3(outCh, outCh);
        igdn = new Gdn(outCh, inverse: true);
        upsample = SubpelConv3x3(inCh, outCh, factor);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        igdn.forward(conv.forward(leaky_relu.forward(subpel_conv.forward(x)))) + upsample.forward(x);
}
