using TorchSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Imaging;

/// <summary>Zero padding added around an image, in pixels, in <c>F.pad</c> order (left, right, top, bottom).</summary>
/// <param name="Left">Columns added on the left.</param>
/// <param name="Right">Columns added on the right.</param>
/// <param name="Top">Rows added at the top.</param>
/// <param name="Bottom">Rows added at the bottom.</param>
public readonly record struct PadSpec(int Left, int Right, int Top, int Bottom)
{
    /// <summary>True when nothing is padded.</summary>
    public bool IsEmpty => Left == 0 && Right == 0 && Top == 0 && Bottom == 0;
}

/// <summary>
/// Centred padding of images to a multiple of the codec's total downsampling factor and its inverse, as
/// CompressAI's <c>compute_padding</c> / <c>F.pad</c> in its evaluation (<c>pad(x, p=2**6)</c>, then
/// <c>crop</c> after decoding).
/// </summary>
public static class Padding
{
    /// <summary>The downsampling factor of the hyperprior models (4 stride-2 layers in g_a, 2 in h_a).</summary>
    public const int DefaultMultiple = 64;

    /// <summary>
    /// The padding that brings <paramref name="height"/> x <paramref name="width"/> up to the next multiple of
    /// <paramref name="multiple"/>, centred: <c>new = ceil(size / multiple) * multiple</c>,
    /// <c>left = (new_w - w) / 2</c> (floor), <c>right = new_w - w - left</c>, likewise top/bottom.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size or the multiple is not positive.</exception>
    public static PadSpec Compute(int height, int width, int multiple = DefaultMultiple)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(multiple, 1);
        long newHeight = ((long)height + multiple - 1) / multiple * multiple;
        long newWidth = ((long)width + multiple - 1) / multiple * multiple;
        int left = (int)((newWidth - width) / 2), top = (int)((newHeight - height) / 2);
        return new PadSpec(left, (int)(newWidth - width - left), top, (int)(newHeight - height - top));
    }

    /// <summary>
    /// Zero-pads the last two dimensions (H, W) of <paramref name="x"/> (any rank &gt;= 2) by <paramref name="p"/>,
    /// as <c>F.pad(x, (left, right, top, bottom), mode="constant", value=0)</c>. Returns a new tensor.
    /// </summary>
    public static Tensor Pad(Tensor x, PadSpec p)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckRank(x);
        if (p.Left < 0 || p.Right < 0 || p.Top < 0 || p.Bottom < 0)
            throw new ArgumentException($"padding must be non-negative, got {p}", nameof(p));
        return nn.functional.pad(x, new long[] { p.Left, p.Right, p.Top, p.Bottom }, PaddingModes.Constant, 0.0);
    }

    /// <summary>
    /// Removes the padding <paramref name="p"/> from the last two dimensions of <paramref name="x"/>: the inverse
    /// of <see cref="Pad"/> (CompressAI's <c>F.pad(x, unpad)</c> with negated amounts). Returns a view
    /// sharing <paramref name="x"/>'s storage (call <c>contiguous()</c> or <c>clone()</c> if that matters).
    /// </summary>
    /// <exception cref="ArgumentException">The padding is negative or larger than the tensor.</exception>
    public static Tensor Crop(Tensor x, PadSpec p)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckRank(x);
        if (p.Left < 0 || p.Right < 0 || p.Top < 0 || p.Bottom < 0)
            throw new ArgumentException($"padding must be non-negative, got {p}", nameof(p));
        long height = x.shape[^2], width = x.shape[^1];
        long keptHeight = height - p.Top - p.Bottom, keptWidth = width - p.Left - p.Right;
        if (keptHeight < 1 || keptWidth < 1)
            throw new ArgumentException($"cannot crop {p} from a {width}x{height} tensor", nameof(p));
        return x.narrow(-2, p.Top, keptHeight).narrow(-1, p.Left, keptWidth);
    }

    private static void CheckRank(Tensor x)
    {
        if (x.dim() < 2)
            throw new ArgumentException($"expected a tensor with at least 2 dimensions (..., H, W), got [{string.Join(", ", x.shape)}]", nameof(x));
    }
}
