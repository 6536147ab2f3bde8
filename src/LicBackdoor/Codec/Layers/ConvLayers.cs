using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Layers;

/// <summary>
/// Convolution factories with CompressAI's conventions (compressai/models/utils.py, layers.py):
/// every conv has a bias; <c>padding = k/2</c>; transposed convs use <c>output_padding = stride-1</c> so a
/// 5x5 stride-2 deconv upsamples exactly 2x.
/// </summary>
public static class ConvLayers
{
    /// <summary><c>conv(in, out, k=5, s=2)</c>: strided k x k convolution, padding k/2.</summary>
    public static Conv2d Conv(long inCh, long outCh, long kernelSize = 5, long stride = 2) =>
        nn.Conv2d(inCh, outCh, kernelSize, stride, kernelSize / 2);

    /// <summary><c>deconv(in, out, k=5, s=2)</c>: transposed convolution, padding k/2, output padding s-1.</summary>
    public static ConvTranspose2d Deconv(long inCh, long outCh, long kernelSize = 5, long stride = 2) =>
        nn.ConvTranspose2d(inCh, outCh, kernelSize, stride, kernelSize / 2, stride - 1);

    /// <summary>3x3 convolution, padding 1.</summary>
    public static Conv2d Conv3x3(long inCh, long outCh, long stride = 1) => nn.Conv2d(inCh, outCh, 3, stride, 1);

    /// <summary>1x1 convolution, no padding.</summary>
    public static Conv2d Conv1x1(long inCh, long outCh, long stride = 1) => nn.Conv2d(inCh, outCh, 1, stride, 0);

    /// <summary>Sub-pixel convolution: a 3x3 conv to <c>out·r²</c> channels followed by PixelShuffle(r) (keys <c>.0.weight</c>).</summary>
    public static Sequential SubpelConv3x3(long inCh, long outCh, long r) =>
        nn.Sequential(("0", nn.Conv2d(inCh, outCh * r * r, 3, 1, 1)), ("1", nn.PixelShuffle(r)));

    /// <summary>Leaky ReLU with PyTorch's default slope 0.01 (CompressAI's blocks).</summary>
    public static LeakyReLU LeakyRelu() => nn.LeakyReLU(0.01, inplace: false);

    /// <summary>Builds a Sequential whose children are named "0", "1", … so state-dict keys match CompressAI's.</summary>
    public static Sequential Numbered(params nn.Module<Tensor, Tensor>[] modules) =>
        nn.Sequential(modules.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)));
}
