using System.Globalization;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Defenses;

/// <summary>
/// Gaussian blur (paper Table 5, "GB"; method-spec §4.5: torchvision <c>GaussianBlur(kernel 5×5, σ)</c> applied to the
/// input before compression), re-implemented from torchvision's documented behaviour for tensors:
/// <list type="bullet">
/// <item>the 1-D kernel is w_i ∝ exp(−½·(t_i/σ)²) at t = −2, −1, 0, 1, 2 (for size 5), normalised to sum 1; the
/// 2-D kernel is its outer product (separable, the same σ in both directions);</item>
/// <item>the image is padded by 2 on each side in <b>reflect</b> mode (mirror without repeating the edge pixel,
/// torch's <c>"reflect"</c>), as torchvision pads tensors, then convolved channel by channel (depthwise).</item>
/// </list>
/// Reflect padding needs H and W of at least 3. The output is not re-quantised to 8 bits (torchvision returns floats);
/// it is clamped to [0, 1] against rounding (a convex combination of [0, 1] values stays in range).
/// </summary>
public sealed class GaussianBlurDefense : IInputDefense
{
    /// <summary>A blur with standard deviation <paramref name="sigma"/> (pixels) and an odd square kernel side (5 in the paper).</summary>
    /// <exception cref="ArgumentOutOfRangeException">σ not positive and finite, or an even or non-positive size.</exception>
    public GaussianBlurDefense(double sigma, int kernelSize = 5)
    {
        if (!double.IsFinite(sigma) || sigma <= 0) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "σ must be positive and finite");
        if (kernelSize < 1 || kernelSize % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "the kernel side must be odd and positive");
        Sigma = sigma;
        KernelSize = kernelSize;
    }

    /// <summary>The standard deviation in pixels.</summary>
    public double Sigma { get; }

    /// <summary>The kernel side (5 in the paper).</summary>
    public int KernelSize { get; }

    /// <inheritdoc/>
    public string Name => KernelSize == 5
        ? string.Create(CultureInfo.InvariantCulture, $"blur:{Sigma:R}")
        : string.Create(CultureInfo.InvariantCulture, $"blur:{Sigma:R}/{KernelSize}");

    /// <summary>The normalised 1-D kernel w_i = exp(−½(t_i/σ)²) / Σ_j exp(−½(t_j/σ)²), t_i = i − (size−1)/2.</summary>
    public static double[] Kernel1D(int size, double sigma)
    {
        int half = (size - 1) / 2;
        var w = Enumerable.Range(-half, size).Select(t => Math.Exp(-0.5 * (t / sigma) * (t / sigma))).ToArray();
        double sum = w.Sum();
        return w.Select(v => v / sum).ToArray();
    }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4 || x.shape[1] != 3) throw new ArgumentException($"expected a [N,3,H,W] batch, got [{string.Join(",", x.shape)}]");
        int half = KernelSize / 2;
        if (x.shape[2] <= half || x.shape[3] <= half)
            throw new ArgumentException($"{Name}: reflect padding by {half} needs sides above {half}, got {x.shape[3]}x{x.shape[2]}");
        using var scope = NewDisposeScope();
        var k1 = tensor(Kernel1D(KernelSize, Sigma), dtype: ScalarType.Float64);
        var k2 = outer(k1, k1).to(x.dtype).to(x.device);
        var weight = k2.reshape(1, 1, KernelSize, KernelSize).expand(3, 1, KernelSize, KernelSize).contiguous();
        var padded = nn.functional.pad(x, new long[] { half, half, half, half }, PaddingModes.Reflect);
        return nn.functional.conv2d(padded, weight, groups: 3).clamp(0, 1).MoveToOuterDisposeScope();
    }
}
