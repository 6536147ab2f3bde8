using LicBackdoor.Backdoor.Defenses;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Defenses;

public sealed class DefenseTests : TorchTest
{
    [Fact]
    public void BlurKernelSumsToOneAndIsTheClosedFormGaussian()
    {
        foreach (var sigma in new[] { 0.2, 0.3, 0.5, 0.6, 2.0 })
        {
            var k = GaussianBlurDefense.Kernel1D(5, sigma);
            Assert.Equal(5, k.Length);
            Assert.Equal(1.0, k.Sum(), 12);
            // closed form: w(t) = exp(-t²/(2σ²)) / (1 + 2e^{-1/(2σ²)} + 2e^{-4/(2σ²)})
            double a = Math.Exp(-1 / (2 * sigma * sigma)), b = Math.Exp(-4 / (2 * sigma * sigma)), z = 1 + 2 * a + 2 * b;
            var expected = new[] { b / z, a / z, 1 / z, a / z, b / z };
            for (int i = 0; i < 5; i++) Assert.Equal(expected[i], k[i], 12);
        }
        // σ = 0.5: the centre weight is 1 / (1 + 2e^-2 + 2e^-8) ≈ 0.78657
        Assert.Equal(0.78657, GaussianBlurDefense.Kernel1D(5, 0.5)[2], 4);
    }

    [Fact]
    public void BlurWithTinySigmaIsIdentityAndKeepsConstantImages()
    {
        var x = rand(2, 3, 9, 13);
        var y = new GaussianBlurDefense(0.05).Apply(x);
        Assert.Equal(x.shape, y.shape);
        Assert.True((y - x).abs().max().item<float>() < 1e-6f);

        var c = full(new long[] { 1, 3, 7, 5 }, 0.37f);
        var blurred = new GaussianBlurDefense(0.6).Apply(c);
        Assert.Equal(0.37, blurred.mean().item<float>(), 5);
        Assert.True((blurred - 0.37f).abs().max().item<float>() < 1e-6f);
    }

    [Fact]
    public void BlurPadsByReflectionAndStaysInRange()
    {
        var x = rand(1, 3, 6, 7);
        const double sigma = 0.6;
        var y = new GaussianBlurDefense(sigma).Apply(x);
        var k = GaussianBlurDefense.Kernel1D(5, sigma);
        var v = x.to(ScalarType.Float64);
        static int Reflect(int i, int n) => i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
        foreach (var (c, r, col) in new[] { (0, 0, 0), (1, 5, 6), (2, 1, 3), (0, 3, 0) })
        {
            double sum = 0;
            for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
                sum += k[dy + 2] * k[dx + 2] * v[0, c, Reflect(r + dy, 6), Reflect(col + dx, 7)].item<double>();
            Assert.Equal(sum, y[0, c, r, col].item<float>(), 5);
        }
        var extreme = rand(1, 3, 16, 16).gt(0.5).to(ScalarType.Float32);
        var b = new GaussianBlurDefense(0.5).Apply(extreme);
        Assert.True(b.min().item<float>() >= 0 && b.max().item<float>() <= 1);
        Assert.Throws<ArgumentException>(() => new GaussianBlurDefense(0.5).Apply(rand(1, 3, 2, 8)));
    }

    [Fact]
    public void SqueezeTruncatesToTheGivenBitDepth()
    {
        var levels = arange(256, dtype: ScalarType.Float32).div(255).reshape(1, 1, 16, 16).expand(1, 3, 16, 16).contiguous();
        Assert.Equal(0f, (new BitSqueezeDefense(8).Apply(levels) - levels).abs().max().item<float>());

        var x = rand(1, 3, 32, 32);
        var s3 = new BitSqueezeDefense(3).Apply(x);
        for (int c = 0; c < 3; c++) Assert.True(s3[0, c].unique().Item1.shape[0] <= 8);
        Assert.True((s3 * 7 - (s3 * 7).round()).abs().max().item<float>() < 1e-5f);
        Assert.True((s3 - x).max().item<float>() <= 1e-6f);   // truncation never goes up

        // truncation, not rounding: 0.7·7 = 4.9 → 4/7; 0.9·1 → 0
        var t = tensor(new float[] { 0.6f, 0.7f, 1f, 0f, 0.5f, 0.99f }).reshape(1, 3, 1, 2);
        var q = new BitSqueezeDefense(3).Apply(t).reshape(-1);
        Assert.Equal(new[] { 4 / 7.0, 4 / 7.0, 1, 0, 3 / 7.0, 6 / 7.0 }, q.data<float>().Select(f => (double)f), new Tol(1e-6));
        Assert.Equal(0f, new BitSqueezeDefense(1).Apply(full(new long[] { 1, 3, 2, 2 }, 0.9f)).max().item<float>());
    }

    [Theory]
    [InlineData("none", "none")]
    [InlineData("blur:0.5", "blur:0.5")]
    [InlineData(" Blur:0.20 ", "blur:0.2")]
    [InlineData("squeeze:3", "squeeze:3")]
    [InlineData("SQUEEZE:7", "squeeze:7")]
    public void ParseReadsTheForms(string spec, string name) => Assert.Equal(name, Defense.Parse(spec).Name);

    [Theory]
    [InlineData("")]
    [InlineData("blur")]
    [InlineData("blur:")]
    [InlineData("blur:-0.5")]
    [InlineData("blur:0")]
    [InlineData("blur:abc")]
    [InlineData("blur:NaN")]
    [InlineData("squeeze:0")]
    [InlineData("squeeze:9")]
    [InlineData("squeeze:2.5")]
    [InlineData("jpeg:50")]
    public void ParseRejectsOtherText(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => Defense.Parse(spec));
        Assert.Contains(spec.Trim().Length == 0 ? "expected" : spec, e.Message);
    }

    [Fact]
    public void PaperDefencesParse() =>
        Assert.Equal(Defense.Table5, Defense.Table5.Select(s => Defense.Parse(s).Name));

    [Fact]
    public void AmplifyScalesThePerturbationAndClamps()
    {
        var x = rand(1, 3, 8, 8) * 0.5 + 0.25;
        var p = x + (rand(1, 3, 8, 8) - 0.5) * 0.02;
        Assert.True((AmplifiedTrigger.Amplify(x, p, 1) - p.clamp(0, 1)).abs().max().item<float>() < 1e-6f);
        var a = AmplifiedTrigger.Amplify(x, p, 3);
        Assert.True((a - x - (p - x) * 3).abs().max().item<float>() < 1e-5f);
        var edge = AmplifiedTrigger.Amplify(full(new long[] { 1, 3, 2, 2 }, 0.99f), full(new long[] { 1, 3, 2, 2 }, 1f), 3);
        Assert.Equal(1f, edge.max().item<float>());
        Assert.Throws<ArgumentOutOfRangeException>(() => AmplifiedTrigger.Amplify(x, p, 0));
    }

    private sealed class Tol(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(double v) => 0;
    }
}
