using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace LicBackdoor.Tests.Imaging;

public sealed class MetricsTests
{
    private readonly ITestOutputHelper _output;

    public MetricsTests(ITestOutputHelper output)
    {
        NativeSetup.Initialize();
        _output = output;
    }

    /// <summary>Deterministic test images [n, c, h, w]: smooth waves plus uniform noise, clamped to [0, 1].</summary>
    private static float[] MakeImage(int seed, int n, int c, int h, int w, double noise)
    {
        var rng = new Random(seed);
        var values = new float[n * c * h * w];
        double fx = 0.05 + 0.1 * rng.NextDouble(), fy = 0.05 + 0.1 * rng.NextDouble();
        int i = 0;
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        double v = 0.5 + 0.3 * Math.Sin(fx * x + ch + b) * Math.Cos(fy * y - ch) + noise * (rng.NextDouble() - 0.5);
                        values[i++] = (float)Math.Clamp(v, 0, 1);
                    }
        return values;
    }

    private static float[] AddNoise(float[] source, int seed, double amplitude)
    {
        var rng = new Random(seed);
        return source.Select(v => (float)Math.Clamp(v + amplitude * (rng.NextDouble() * 2 - 1), 0, 1)).ToArray();
    }

    private static Tensor T(float[] values, int n, int c, int h, int w) => torch.tensor(values, new long[] { n, c, h, w });

    // ---------- PSNR ----------

    [Fact]
    public void Psnr_of_identical_images_is_infinite()
    {
        using var a = torch.rand(1, 3, 8, 8);
        using var b = a.clone();
        Assert.Equal(double.PositiveInfinity, Metrics.Psnr(a, b));
    }

    [Fact]
    public void Psnr_of_a_known_mse()
    {
        using var zeros = torch.zeros(1, 3, 4, 4);
        using var tenth = torch.full(new long[] { 1, 3, 4, 4 }, 0.1f);
        // mse = 0.01 (0.1 in float32 squared: within 1e-6 dB of 20).
        Assert.Equal(20.0, Metrics.Psnr(zeros, tenth), 5);
        // Half the elements differ by 0.5: mse = 0.125 -> 10 log10(8) = 9.0309 dB.
        var half = new float[48];
        for (int i = 0; i < 24; i++) half[i] = 0.5f;
        using var h = T(half, 1, 3, 4, 4);
        Assert.Equal(10 * Math.Log10(8), Metrics.Psnr(zeros, h), 10);
        // Data range 255: a difference of 25.5 everywhere is again 20 dB.
        using var big = torch.full(new long[] { 1, 3, 4, 4 }, 25.5f);
        Assert.Equal(20.0, Metrics.Psnr(zeros, big, 255), 5);
    }

    [Fact]
    public void Psnr_matches_a_hand_computation()
    {
        var a = MakeImage(1, 2, 3, 17, 13, 0.5);
        var b = AddNoise(a, 2, 0.1);
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        double expected = 10 * Math.Log10(1.0 / (sum / a.Length));
        using var ta = T(a, 2, 3, 17, 13);
        using var tb = T(b, 2, 3, 17, 13);
        Assert.Equal(expected, Metrics.Psnr(ta, tb), 9);
        Assert.Equal(expected, Metrics.Psnr(tb, ta), 9);
    }

    [Fact]
    public void Psnr_rejects_mismatched_shapes()
    {
        using var a = torch.rand(1, 3, 8, 8);
        using var b = torch.rand(1, 3, 8, 9);
        Assert.Throws<ArgumentException>(() => Metrics.Psnr(a, b));
        Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.Psnr(a, a, 0));
    }

    // ---------- MS-SSIM ----------

    [Fact]
    public void MsSsim_of_identical_images_is_one()
    {
        var a = MakeImage(3, 1, 3, 176, 176, 0.3);
        using var ta = T(a, 1, 3, 176, 176);
        using var tb = ta.clone();
        Assert.Equal(1.0, Metrics.MsSsim(ta, tb), 6);
    }

    [Theory]
    [InlineData(176, 176, 1, 0.3, 0.1)]
    [InlineData(177, 183, 2, 0.3, 0.05)] // odd sides exercise avg_pool2d's (h % 2, w % 2) padding
    [InlineData(161, 200, 1, 1.0, 0.3)]  // the smallest accepted side; heavy noise
    public void MsSsim_agrees_with_a_double_precision_reference(int h, int w, int n, double texture, double noise)
    {
        const int c = 3;
        var a = MakeImage(10 + h, n, c, h, w, texture);
        var b = AddNoise(a, 20 + w, noise);
        double expected = MsSsimReference.Compute(a, b, n, c, h, w);

        using var ta = T(a, n, c, h, w);
        using var tb = T(b, n, c, h, w);
        double actual = Metrics.MsSsim(ta, tb);
        _output.WriteLine($"MS-SSIM torch {actual:R}, reference {expected:R}, difference {actual - expected:E2}");

        Assert.True(Math.Abs(actual - expected) < 1e-5, $"torch {actual:R} vs reference {expected:R}");
    }

    [Theory]
    [InlineData(176, 176, 1.0)]  // unrelated noise: low values, some scales' cs near or below zero (ReLU)
    [InlineData(179, 176, 0.2)]  // unrelated smooth images
    public void MsSsim_of_unrelated_images_agrees_with_the_reference(int h, int w, double texture)
    {
        const int n = 2, c = 3;
        var a = MakeImage(30, n, c, h, w, texture);
        var b = MakeImage(31, n, c, h, w, texture);
        double expected = MsSsimReference.Compute(a, b, n, c, h, w);

        using var ta = T(a, n, c, h, w);
        using var tb = T(b, n, c, h, w);
        double actual = Metrics.MsSsim(ta, tb);
        _output.WriteLine($"MS-SSIM torch {actual:R}, reference {expected:R}, difference {actual - expected:E2}");

        Assert.True(Math.Abs(actual - expected) < 1e-5, $"torch {actual:R} vs reference {expected:R}");
    }

    [Fact]
    public void MsSsim_with_data_range_255_matches_scaled_inputs()
    {
        var a = MakeImage(5, 1, 3, 176, 180, 0.3);
        var b = AddNoise(a, 6, 0.1);
        using var ta = T(a, 1, 3, 176, 180);
        using var tb = T(b, 1, 3, 176, 180);
        using var ta255 = ta * 255;
        using var tb255 = tb * 255;
        Assert.Equal(Metrics.MsSsim(ta, tb), Metrics.MsSsim(ta255, tb255, 255), 5);
    }

    [Fact]
    public void MsSsim_is_symmetric()
    {
        var a = MakeImage(7, 1, 3, 176, 176, 0.3);
        var b = AddNoise(a, 8, 0.1);
        using var ta = T(a, 1, 3, 176, 176);
        using var tb = T(b, 1, 3, 176, 176);
        Assert.Equal(Metrics.MsSsim(ta, tb), Metrics.MsSsim(tb, ta), 6);
    }

    [Fact]
    public void MsSsim_decreases_with_noise()
    {
        var a = MakeImage(9, 1, 3, 176, 176, 0.2);
        using var ta = T(a, 1, 3, 176, 176);
        double previous = 1.0;
        foreach (double amplitude in new[] { 0.01, 0.05, 0.1, 0.3 })
        {
            using var tb = T(AddNoise(a, 11, amplitude), 1, 3, 176, 176);
            double value = Metrics.MsSsim(ta, tb);
            Assert.True(value < previous, $"noise {amplitude}: {value} !< {previous}");
            Assert.True(value > 0);
            previous = value;
        }
    }

    [Theory]
    [InlineData(160, 200)]
    [InlineData(300, 160)]
    [InlineData(32, 32)]
    public void MsSsim_rejects_small_images(int h, int w)
    {
        using var a = torch.rand(1, 3, h, w);
        var e = Assert.Throws<ArgumentException>(() => Metrics.MsSsim(a, a));
        Assert.Contains("160", e.Message);
    }

    [Fact]
    public void MsSsim_rejects_mismatched_or_non_4d_shapes()
    {
        using var a = torch.rand(1, 3, 176, 176);
        using var b = torch.rand(1, 3, 176, 177);
        using var c = torch.rand(3, 176, 176);
        Assert.Throws<ArgumentException>(() => Metrics.MsSsim(a, b));
        Assert.Throws<ArgumentException>(() => Metrics.MsSsim(c, c));
    }

    [Fact]
    public void MsSsimTensor_is_differentiable_and_leaves_inputs_alive()
    {
        using var scope = torch.NewDisposeScope();
        var a = T(MakeImage(12, 1, 3, 176, 176, 0.3), 1, 3, 176, 176);
        var b = T(AddNoise(a.data<float>().ToArray(), 13, 0.1), 1, 3, 176, 176).requires_grad_(true);

        var value = Metrics.MsSsimTensor(a, b);
        Assert.Empty(value.shape);
        Assert.Equal(ScalarType.Float32, value.dtype);
        value.backward();

        Assert.NotNull(b.grad);
        Assert.Equal(b.shape, b.grad!.shape);
        Assert.True(b.grad.abs().sum().item<float>() > 0);
        // Moving b towards a increases MS-SSIM: the gradient points from b to a on average.
        Assert.True(((a - b.detach()) * b.grad).sum().item<float>() > 0);
        // The inputs were not disposed by the metric's dispose scope.
        Assert.Equal(1, a.shape[0]);
        Assert.True(a.sum().item<float>() > 0);
        Assert.Equal(value.item<float>(), (float)Metrics.MsSsim(a, b), 6);
    }
}

/// <summary>
/// An independent MS-SSIM in plain double-precision loops, written from the definition
/// (Wang, Simoncelli &amp; Bovik 2003) with pytorch_msssim's conventions: 11-tap Gaussian (sigma 1.5) filter
/// without padding, C1 = (0.01 L)^2, C2 = (0.03 L)^2, 2x2 mean pooling with (h % 2, w % 2) zero padding on
/// each side counted in the average, ReLU on each scale's value, weights 0.0448 ... 0.1333, mean over
/// images and channels.
/// </summary>
internal static class MsSsimReference
{
    private static readonly double[] Weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

    public static double Compute(float[] a, float[] b, int n, int c, int h, int w, double dataRange = 1.0)
    {
        double[] g = new double[11];
        for (int i = 0; i < 11; i++) g[i] = Math.Exp(-(i - 5) * (i - 5) / (2 * 1.5 * 1.5));
        double gs = g.Sum();
        for (int i = 0; i < 11; i++) g[i] /= gs;
        double c1 = Math.Pow(0.01 * dataRange, 2), c2 = Math.Pow(0.03 * dataRange, 2);

        double total = 0;
        for (int img = 0; img < n * c; img++)
        {
            var x = new double[h, w];
            var y = new double[h, w];
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    x[i, j] = a[(long)img * h * w + i * w + j];
                    y[i, j] = b[(long)img * h * w + i * w + j];
                }

            double product = 1;
            for (int level = 0; level < 5; level++)
            {
                var (ssim, cs) = Ssim(x, y, g, c1, c2);
                double term = level < 4 ? cs : ssim;
                product *= Math.Pow(Math.Max(term, 0), Weights[level]);
                if (level < 4)
                {
                    x = Pool(x);
                    y = Pool(y);
                }
            }
            total += product;
        }
        return total / (n * c);
    }

    private static (double Ssim, double Cs) Ssim(double[,] x, double[,] y, double[] g, double c1, double c2)
    {
        var mx = Filter(x, g);
        var my = Filter(y, g);
        var mxx = Filter(Multiply(x, x), g);
        var myy = Filter(Multiply(y, y), g);
        var mxy = Filter(Multiply(x, y), g);
        int oh = mx.GetLength(0), ow = mx.GetLength(1);
        double ssimSum = 0, csSum = 0;
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
            {
                double vx = mxx[i, j] - mx[i, j] * mx[i, j];
                double vy = myy[i, j] - my[i, j] * my[i, j];
                double cov = mxy[i, j] - mx[i, j] * my[i, j];
                double cs = (2 * cov + c2) / (vx + vy + c2);
                double luminance = (2 * mx[i, j] * my[i, j] + c1) / (mx[i, j] * mx[i, j] + my[i, j] * my[i, j] + c1);
                csSum += cs;
                ssimSum += luminance * cs;
            }
        return (ssimSum / (oh * ow), csSum / (oh * ow));
    }

    private static double[,] Multiply(double[,] p, double[,] q)
    {
        int h = p.GetLength(0), w = p.GetLength(1);
        var r = new double[h, w];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                r[i, j] = p[i, j] * q[i, j];
        return r;
    }

    /// <summary>Valid 2-D filtering with the outer product g g^T.</summary>
    private static double[,] Filter(double[,] p, double[] g)
    {
        int h = p.GetLength(0), w = p.GetLength(1), k = g.Length;
        int oh = h - k + 1, ow = w - k + 1;
        var r = new double[oh, ow];
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
            {
                double s = 0;
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++)
                        s += g[u] * g[v] * p[i + u, j + v];
                r[i, j] = s;
            }
        return r;
    }

    /// <summary>2x2 mean with stride 2 over the image zero-padded by (h % 2, w % 2) on each side.</summary>
    private static double[,] Pool(double[,] p)
    {
        int h = p.GetLength(0), w = p.GetLength(1);
        int ph = h % 2, pw = w % 2;
        int oh = (h + 2 * ph - 2) / 2 + 1, ow = (w + 2 * pw - 2) / 2 + 1;
        var r = new double[oh, ow];
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
            {
                double s = 0;
                for (int u = 0; u < 2; u++)
                    for (int v = 0; v < 2; v++)
                    {
                        int yy = 2 * i + u - ph, xx = 2 * j + v - pw;
                        if (yy >= 0 && yy < h && xx >= 0 && xx < w) s += p[yy, xx];
                    }
                r[i, j] = s / 4;
            }
        return r;
    }
}
