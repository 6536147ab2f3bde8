using LicBackdoor.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Imaging;

/// <summary>
/// Distortion metrics of CompressAI's evaluation: PSNR and MS-SSIM (the latter as
/// <c>pytorch_msssim.ms_ssim(a, b, data_range=1.0)</c>, Wang, Simoncelli &amp; Bovik 2003).
/// </summary>
public static class Metrics
{
    /// <summary>Gaussian window size of MS-SSIM (pytorch_msssim default).</summary>
    public const int MsSsimWindowSize = 11;

    /// <summary>Gaussian window standard deviation of MS-SSIM (pytorch_msssim default).</summary>
    public const double MsSsimWindowSigma = 1.5;

    /// <summary>Stabilising constants K1, K2 of SSIM (Wang et al. 2004; pytorch_msssim default).</summary>
    public const double K1 = 0.01, K2 = 0.03;

    /// <summary>Per-scale exponents of MS-SSIM, finest scale first (Wang et al. 2003, Table; pytorch_msssim default).</summary>
    public static IReadOnlyList<double> MsSsimWeights { get; } = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

    /// <summary>
    /// The smallest image side MS-SSIM accepts is one more than this: (win_size - 1) * 2^4 = 160, because the
    /// 11-tap window must still fit after the four 2x downsamplings (pytorch_msssim asserts the same).
    /// </summary>
    public const int MsSsimMinSideExclusive = (MsSsimWindowSize - 1) * 16;

    /// <summary>
    /// Peak signal-to-noise ratio in dB: <c>10 log10(range^2 / mse)</c>, the MSE over all elements
    /// (computed in float64). Returns <see cref="double.PositiveInfinity"/> for identical inputs.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ, inputs are empty, or the range is not positive.</exception>
    public static double Psnr(Tensor a, Tensor b, double dataRange = 1.0)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        CheckSameShape(a, b);
        if (a.numel() == 0) throw new ArgumentException("PSNR of empty tensors is undefined", nameof(a));
        if (!(dataRange > 0) || double.IsInfinity(dataRange))
            throw new ArgumentOutOfRangeException(nameof(dataRange), dataRange, "data range must be positive and finite");
        return PsnrFromMse(Mse(a, b), dataRange);
    }

    /// <summary>
    /// Mean squared error over all elements, computed in float64 (inputs of the same shape). The square is a
    /// tensor product, not TorchSharp's <c>square()</c>, which is <c>pow(2)</c> through a temporary <c>Scalar</c>
    /// (see <see cref="KeptScalars"/>; seen as "INTERNAL ASSERT FAILED at c10/core/Scalar.h" in a JPEG sweep).
    /// </summary>
    public static double Mse(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        CheckSameShape(a, b);
        using var scope = torch.NewDisposeScope();
        var d = a.detach().to(ScalarType.Float64).sub(b.detach().to(ScalarType.Float64));
        return d.mul(d).mean().item<double>();
    }

    /// <summary><c>10 log10(range^2 / mse)</c> for a given MSE; <see cref="double.PositiveInfinity"/> when it is 0.</summary>
    public static double PsnrFromMse(double mse, double dataRange = 1.0) =>
        mse == 0 ? double.PositiveInfinity : 10.0 * Math.Log10(dataRange * dataRange / mse);

    /// <summary>
    /// Multi-scale SSIM of two <c>[N, C, H, W]</c> batches, averaged over batch and channels, as a double.
    /// See <see cref="MsSsimTensor"/>.
    /// </summary>
    public static double MsSsim(Tensor a, Tensor b, double dataRange = 1.0)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        using (torch.NewDisposeScope())
            return MsSsimTensor(a.detach(), b.detach(), dataRange).item<float>();
    }

    /// <summary>
    /// Multi-scale SSIM of two <c>[N, C, H, W]</c> batches as a differentiable float32 scalar tensor (mean over
    /// batch and channels), reproducing <c>pytorch_msssim.ms_ssim(..., size_average=True)</c> with its
    /// defaults: separable 11-tap Gaussian window (sigma 1.5) applied per channel as a grouped <c>conv2d</c>
    /// with no padding (height pass, then width pass); K1 = 0.01, K2 = 0.03; five scales joined by
    /// <c>avg_pool2d(kernel 2, padding (h % 2, w % 2))</c>; contrast-structure terms of scales 1-4 and the SSIM
    /// of scale 5, each ReLU-ed per channel, raised to the weights <see cref="MsSsimWeights"/> and multiplied.
    /// Computed in float32 like pytorch_msssim (inputs of other dtypes are converted).
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ, are not 4-D, or the smaller side is not larger than 160.</exception>
    public static Tensor MsSsimTensor(Tensor a, Tensor b, double dataRange = 1.0)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        CheckSameShape(a, b);
        if (a.dim() != 4)
            throw new ArgumentException($"MS-SSIM expects [N, C, H, W] tensors, got [{string.Join(", ", a.shape)}]", nameof(a));
        long smaller = Math.Min(a.shape[2], a.shape[3]);
        if (smaller <= MsSsimMinSideExclusive)
            throw new ArgumentException(
                $"MS-SSIM needs both image sides larger than {MsSsimMinSideExclusive} pixels (the {MsSsimWindowSize}-tap window after 4 downsamplings), got {a.shape[3]}x{a.shape[2]}",
                nameof(a));
        if (a.shape[0] == 0 || a.shape[1] == 0)
            throw new ArgumentException("MS-SSIM of an empty batch is undefined", nameof(a));
        if (!(dataRange > 0) || double.IsInfinity(dataRange))
            throw new ArgumentOutOfRangeException(nameof(dataRange), dataRange, "data range must be positive and finite");

        using var scope = torch.NewDisposeScope();
        var x = a.to(ScalarType.Float32);
        var y = b.to(ScalarType.Float32);
        long channels = x.shape[1];
        // The five blurred maps (x, y, x², y², xy) go through one grouped convolution.
        var window = GaussianWindow(channels * 5, x.device);
        double k1r = K1 * dataRange, k2r = K2 * dataRange;
        double c1 = k1r * k1r, c2 = k2r * k2r;

        int levels = MsSsimWeights.Count;
        var terms = new List<Tensor>(levels);
        for (int level = 0; level < levels; level++)
        {
            var (ssim, cs) = SsimPerChannel(x, y, window, c1, c2);
            if (level < levels - 1)
            {
                terms.Add(nn.functional.relu(cs));
                long[] padding = [x.shape[2] % 2, x.shape[3] % 2];
                x = nn.functional.avg_pool2d(x, [2, 2], [2, 2], padding);
                y = nn.functional.avg_pool2d(y, [2, 2], [2, 2], padding);
            }
            else
            {
                terms.Add(nn.functional.relu(ssim));
            }
        }

        var stacked = torch.stack(terms, 0L);                                          // [levels, N, C]
        var weights = torch.tensor(MsSsimWeights.Select(w => (float)w).ToArray(), device: x.device).view(-1, 1, 1);
        var msSsim = stacked.pow(weights).prod(0L);                                     // [N, C]
        return msSsim.mean().MoveToOuterDisposeScope();
    }

    /// <summary>Per-channel SSIM and contrast-structure means, each [N, C] (pytorch_msssim's <c>_ssim</c>).</summary>
    private static (Tensor Ssim, Tensor Cs) SsimPerChannel(Tensor x, Tensor y, (Tensor Vertical, Tensor Horizontal) window, double c1, double c2)
    {
        var blurred = Blur(torch.cat(new[] { x, y, x * x, y * y, x * y }, 1), window).chunk(5, 1);
        var mu1 = blurred[0];
        var mu2 = blurred[1];
        var mu1Sq = mu1 * mu1;
        var mu2Sq = mu2 * mu2;
        var mu1Mu2 = mu1 * mu2;
        var sigma1Sq = blurred[2].add(mu1Sq, KeptScalars.MinusOne);
        var sigma2Sq = blurred[3].add(mu2Sq, KeptScalars.MinusOne);
        var sigma12 = blurred[4].add(mu1Mu2, KeptScalars.MinusOne);
        // Explicit scalars held for the whole computation (KeptScalars explains why not implicit ones).
        using Scalar two = 2f, c1s = c1, c2s = c2;
        var csMap = sigma12.mul(two).add(c2s).div(sigma1Sq.add(sigma2Sq, KeptScalars.One).add(c2s));
        var ssimMap = mu1Mu2.mul(two).add(c1s).div(mu1Sq.add(mu2Sq, KeptScalars.One).add(c1s)).mul(csMap);
        return (ssimMap.flatten(2).mean([-1]), csMap.flatten(2).mean([-1]));
    }

    /// <summary>Separable Gaussian filter, valid padding, per channel: height pass then width pass.</summary>
    private static Tensor Blur(Tensor input, (Tensor Vertical, Tensor Horizontal) window)
    {
        long groups = input.shape[1];
        var vertical = nn.functional.conv2d(input, window.Vertical, groups: groups);
        return nn.functional.conv2d(vertical, window.Horizontal, groups: groups);
    }

    /// <summary>
    /// The normalised 1-D Gaussian (pytorch_msssim's <c>_fspecial_gauss_1d</c>, in float32) as conv2d weights
    /// [C, 1, 11, 1] (along H) and [C, 1, 1, 11] (along W).
    /// </summary>
    private static (Tensor Vertical, Tensor Horizontal) GaussianWindow(long channels, Device device)
    {
        using Scalar centre = (float)(MsSsimWindowSize / 2), twoSigmaSq = (float)(2 * MsSsimWindowSigma * MsSsimWindowSigma);
        var coords = torch.arange(MsSsimWindowSize, ScalarType.Float32, device).sub_(centre);
        var g = torch.exp(coords.mul(coords).neg_().div_(twoSigmaSq));
        g = g.div(g.sum());
        var horizontal = g.view(1, 1, 1, MsSsimWindowSize).repeat(channels, 1, 1, 1);
        var vertical = g.view(1, 1, MsSsimWindowSize, 1).repeat(channels, 1, 1, 1);
        return (vertical, horizontal);
    }

    private static void CheckSameShape(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape))
            throw new ArgumentException($"inputs must have the same shape, got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]");
    }
}
