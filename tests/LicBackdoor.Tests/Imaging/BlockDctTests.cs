using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Imaging;

public sealed class BlockDctTests : TorchTest
{
    private static double Cos(int k, int n, int b = 16) => Math.Cos(Math.PI * k * (2 * n + 1) / (2.0 * b));

    [Fact]
    public void InverseOfForwardIsTheIdentityIn255Units()
    {
        var x = rand(2, 3, 32, 48).mul_(255);
        var back = BlockDct.Inverse(BlockDct.Forward(x));
        float err = (back - x).abs().max().item<float>();
        Assert.True(err < 1e-4f, $"max error {err}");
        var blocks = BlockDct.Blockify(x);
        Assert.True((BlockDct.Idct2d(BlockDct.Dct2d(blocks)) - blocks).abs().max().item<float>() < 1e-4f);
    }

    [Fact]
    public void MatricesAreExactInverses()
    {
        var f = tensor(BlockDct.ForwardMatrix(16), new long[] { 16, 16 }, dtype: ScalarType.Float64);
        var i = tensor(BlockDct.InverseMatrix(16), new long[] { 16, 16 }, dtype: ScalarType.Float64);
        Assert.True((i.mm(f) - eye(16, dtype: ScalarType.Float64)).abs().max().item<double>() < 1e-12);
    }

    [Fact]
    public void ForwardFollowsTheScipyUnnormalisedDefinition()
    {
        // X_k = 2 Σ x_n cos(πk(2n+1)/2N) per axis: a constant block of ones has DC 2·16·2·16 = 1024,
        // and the separable cosine pattern cos_3(n)·cos_5(m) has the single coefficient 2·8·2·8 = 256 at (3,5).
        var ones16 = ones(1, 1, 16, 16, dtype: ScalarType.Float64);
        var dc = BlockDct.Forward(ones16);
        Assert.Equal(1024, dc[0, 0, 0, 0].item<double>(), 9);
        Assert.Equal(1024, dc.abs().sum().item<double>(), 9);

        var p = new double[256];
        for (int n = 0; n < 16; n++)
            for (int m = 0; m < 16; m++) p[n * 16 + m] = Cos(3, n) * Cos(5, m);
        var c = BlockDct.Forward(tensor(p, new long[] { 1, 1, 16, 16 }));
        Assert.Equal(256, c[0, 0, 3, 5].item<double>(), 9);
        Assert.Equal(256, c.abs().sum().item<double>(), 8);
    }

    [Theory]
    [InlineData(3, 5)]
    [InlineData(15, 1)]
    [InlineData(7, 0)]
    [InlineData(0, 0)]
    public void OneCoefficientGivesItsCosinePatternAndTheDocumentedRms(int u, int v)
    {
        const double delta = 100;
        var coeffs = zeros(1, 1, 32, 16, dtype: ScalarType.Float64);  // two blocks stacked vertically
        coeffs[0, 0, 16 + u, v] = tensor(delta, ScalarType.Float64);   // in the second block
        var pixels = BlockDct.Inverse(coeffs);
        Assert.Equal(0, pixels[.., .., ..16, ..].abs().max().item<double>(), 12);
        double wu = u == 0 ? 1.0 / 32 : 1.0 / 16, wv = v == 0 ? 1.0 / 32 : 1.0 / 16;
        for (int n = 0; n < 16; n += 5)
            for (int m = 0; m < 16; m += 3)
                Assert.Equal(delta * wu * wv * Cos(u, n) * Cos(v, m), pixels[0, 0, 16 + n, m].item<double>(), 10);
        // RMS: δ/512 for u,v ≥ 1; δ/(512√2) with one zero index; δ/1024 for DC.
        double expected = (u, v) switch
        {
            (0, 0) => delta / 1024,
            (0, _) or (_, 0) => delta / (512 * Math.Sqrt(2)),
            _ => delta / 512,
        };
        double rms = Math.Sqrt(pixels[.., .., 16.., ..].square().mean().item<double>());
        Assert.Equal(expected, rms, 10);
    }

    [Fact]
    public void BlockifyListsBlocksInRasterOrderAndDeblockifyInvertsIt()
    {
        var x = arange(2 * 3 * 32 * 48, dtype: ScalarType.Float32).reshape(2, 3, 32, 48);
        var blocks = BlockDct.Blockify(x);
        Assert.Equal(new long[] { 2, 3, 6, 16, 16 }, blocks.shape);
        // block 4 = row 1, column 1 (3 blocks per row)
        Assert.True(blocks[1, 2, 4].equal(x[1, 2, 16..32, 16..32]).all().item<bool>());
        Assert.True(BlockDct.Deblockify(blocks, 32, 48).equal(x).all().item<bool>());
    }

    [Fact]
    public void IsDifferentiable()
    {
        var x = rand(1, 3, 16, 16).requires_grad_(true);
        BlockDct.Forward(x)[0, 0, 2, 3].backward();
        Assert.NotNull(x.grad);
        Assert.True(x.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void RejectsSizesThatAreNotMultiplesOfTheBlock()
    {
        Assert.Throws<ArgumentException>(() => BlockDct.Forward(zeros(1, 3, 20, 32)));
        Assert.Throws<ArgumentException>(() => BlockDct.Dct2d(zeros(new long[] { 2, 16, 8 })));
        Assert.Throws<ArgumentException>(() => BlockDct.Deblockify(zeros(new long[] { 1, 3, 5, 16, 16 }), 32, 48));
    }
}
