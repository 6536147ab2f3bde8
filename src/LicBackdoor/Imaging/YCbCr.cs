using static TorchSharp.torch;

namespace LicBackdoor.Imaging;

/// <summary>
/// RGB ↔ YCbCr in JPEG's full-range convention (JFIF / ITU-T T.871) on 0..255 values, as the trigger
/// injection of the paper (method-spec §1.2: <c>to_ycbcr(x, data_range=255)</c>) uses it:
/// <c>Y = .299R + .587G + .114B</c>, <c>Cb = 128 − .168736R − .331264G + .5B</c>,
/// <c>Cr = 128 + .5R − .418688G − .081312B</c>. The inverse is the exact matrix inverse of these six-digit
/// coefficients (computed in double precision), so <c>ToRgb(FromRgb(x)) == x</c> to float rounding; the
/// textbook constants (1.402, 0.344136, 0.714136, 1.772) differ from it by about 1e-6 relative.
/// Both directions are affine, differentiable, and keep the dtype of their input.
/// </summary>
public static class YCbCr
{
    /// <summary>The forward matrix, rows Y, Cb, Cr; columns R, G, B (JPEG/JFIF full range).</summary>
    public static IReadOnlyList<double> ForwardMatrix { get; } =
    [
        0.299, 0.587, 0.114,
        -0.168736, -0.331264, 0.5,
        0.5, -0.418688, -0.081312,
    ];

    /// <summary>The offsets added after the forward matrix (data range 255).</summary>
    public static IReadOnlyList<double> Offset { get; } = [0, 128, 128];

    private static readonly double[] Inverse = Invert3x3(ForwardMatrix);

    /// <summary>The matrix of <see cref="ToRgb"/> (rows R, G, B; columns Y, Cb−128, Cr−128).</summary>
    public static IReadOnlyList<double> InverseMatrix => Inverse;

    /// <summary>RGB in 0..255 (<c>[N,3,H,W]</c>) to YCbCr in 0..255 (same shape and dtype).</summary>
    public static Tensor FromRgb(Tensor rgb255)
    {
        CheckImage(rgb255);
        using var w = Weight(ForwardMatrix, rgb255);
        using var b = tensor(Offset.ToArray(), dtype: rgb255.dtype);
        return nn.functional.conv2d(rgb255, w, b);
    }

    /// <summary>YCbCr in 0..255 (<c>[N,3,H,W]</c>) to RGB in 0..255 (same shape and dtype); no clamping.</summary>
    public static Tensor ToRgb(Tensor ycc255)
    {
        CheckImage(ycc255);
        using var w = Weight(Inverse, ycc255);
        var bias = new double[3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                bias[r] -= Inverse[r * 3 + c] * Offset[c];
        using var b = tensor(bias, dtype: ycc255.dtype);
        return nn.functional.conv2d(ycc255, w, b);
    }

    /// <summary>
    /// The linear part of <see cref="ToRgb"/> alone (no offset): maps a YCbCr difference to the RGB difference
    /// it causes. Used for additive triggers defined in YCbCr.
    /// </summary>
    public static Tensor DifferenceToRgb(Tensor yccDelta)
    {
        CheckImage(yccDelta);
        using var w = Weight(Inverse, yccDelta);
        return nn.functional.conv2d(yccDelta, w);
    }

    private static Tensor Weight(IReadOnlyList<double> m, Tensor like) =>
        tensor(m.ToArray(), new long[] { 3, 3, 1, 1 }, dtype: like.dtype);

    private static void CheckImage(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4 || x.shape[1] != 3)
            throw new ArgumentException($"expected an image batch [N,3,H,W], got [{string.Join(", ", x.shape)}]", nameof(x));
        if (!x.is_floating_point())
            throw new ArgumentException($"expected a floating-point image, got {x.dtype}", nameof(x));
    }

    private static double[] Invert3x3(IReadOnlyList<double> m)
    {
        double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8];
        double det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
        return
        [
            (e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
            (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
            (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
        ];
    }
}
