using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace LicBackdoor.Imaging;

/// <summary>
/// Blockwise 2-D DCT-II in the unnormalised convention of scipy / torch-dct with <c>norm=None</c>, which the
/// paper's trigger injection uses (method-spec §1.3): along one axis <c>X_k = 2 Σ_n x_n cos(πk(2n+1)/2N)</c>,
/// applied to rows and columns of every <c>b×b</c> block; the inverse is its exact inverse
/// (<c>x_n = X_0/2N + (1/N) Σ_{k≥1} X_k cos(πk(2n+1)/2N)</c>). Both are matrix products with a precomputed
/// <c>b×b</c> matrix, so they are differentiable; the products are computed in float64 and returned in the
/// input's dtype (a float32 round trip on 0..255 values is then exact to float32 rounding of the result).
/// <para>
/// Consequence used to size triggers: adding δ to coefficient (u,v) of a 16×16 block with u,v ≥ 1 changes its
/// pixels by <c>(δ/256)·cos·cos</c>, an RMS of δ/512; with exactly one of u, v zero the RMS is δ/(512√2), and
/// for the DC coefficient the change is the constant δ/1024 (an orthonormal DCT's coefficients are these
/// divided by 2N = 32 for u,v ≥ 1).
/// </para>
/// Layouts: an image is <c>[N,C,H,W]</c> with H and W multiples of the block size; blocks are
/// <c>[N,C,L,b,b]</c> with the L = (H/b)(W/b) blocks in raster order (torch-dct's <c>blockify</c>).
/// </summary>
public static class BlockDct
{
    /// <summary>The block size of the paper's trigger (method-spec §1.2, §5).</summary>
    public const int DefaultBlockSize = 16;

    private static readonly ConcurrentDictionary<int, (double[] Forward, double[] Inverse)> Matrices = new();

    /// <summary>The DCT-II matrix <c>C[k,n] = 2 cos(πk(2n+1)/2b)</c> (row-major, b×b), so <c>X = C x</c>.</summary>
    public static double[] ForwardMatrix(int blockSize) => Get(blockSize).Forward;

    /// <summary>The exact inverse of <see cref="ForwardMatrix"/>: <c>D[n,k] = w_k cos(πk(2n+1)/2b)</c>, w_0 = 1/2b, w_k = 1/b.</summary>
    public static double[] InverseMatrix(int blockSize) => Get(blockSize).Inverse;

    /// <summary><c>[N,C,H,W]</c> → <c>[N,C,L,b,b]</c> (H, W multiples of b; blocks in raster order).</summary>
    public static Tensor Blockify(Tensor x, int blockSize = DefaultBlockSize)
    {
        CheckImage(x, blockSize);
        long n = x.shape[0], c = x.shape[1], hb = x.shape[2] / blockSize, wb = x.shape[3] / blockSize;
        return x.reshape(n, c, hb, blockSize, wb, blockSize).permute(0, 1, 2, 4, 3, 5).reshape(n, c, hb * wb, blockSize, blockSize);
    }

    /// <summary>The inverse of <see cref="Blockify"/>: <c>[N,C,L,b,b]</c> → <c>[N,C,H,W]</c>.</summary>
    public static Tensor Deblockify(Tensor blocks, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.dim() != 5 || blocks.shape[3] != blocks.shape[4])
            throw new ArgumentException($"expected blocks [N,C,L,b,b], got [{string.Join(", ", blocks.shape)}]", nameof(blocks));
        long b = blocks.shape[3];
        if (height % b != 0 || width % b != 0 || (height / b) * (width / b) != blocks.shape[2])
            throw new ArgumentException($"{blocks.shape[2]} blocks of {b}x{b} do not tile a {width}x{height} image", nameof(blocks));
        long n = blocks.shape[0], c = blocks.shape[1], hb = height / b, wb = width / b;
        return blocks.reshape(n, c, hb, wb, b, b).permute(0, 1, 2, 4, 3, 5).reshape(n, c, height, width);
    }

    /// <summary>2-D DCT-II of each block (last two dimensions, square): <c>C · X · Cᵀ</c>.</summary>
    public static Tensor Dct2d(Tensor blocks) => Separable(blocks, inverse: false);

    /// <summary>The exact inverse of <see cref="Dct2d"/>: <c>D · Y · Dᵀ</c>.</summary>
    public static Tensor Idct2d(Tensor coefficients) => Separable(coefficients, inverse: true);

    /// <summary>Blockwise DCT of an image, coefficients laid out in image coordinates (<c>deblockify(dct_2d(blockify(x)))</c>).</summary>
    public static Tensor Forward(Tensor x, int blockSize = DefaultBlockSize) =>
        Deblockify(Dct2d(Blockify(x, blockSize)), x.shape[2], x.shape[3]);

    /// <summary>The inverse of <see cref="Forward"/>.</summary>
    public static Tensor Inverse(Tensor coefficients, int blockSize = DefaultBlockSize) =>
        Deblockify(Idct2d(Blockify(coefficients, blockSize)), coefficients.shape[2], coefficients.shape[3]);

    private static Tensor Separable(Tensor x, bool inverse)
    {
        ArgumentNullException.ThrowIfNull(x);
        // matmul with mismatched shapes aborts the process in this TorchSharp build: check first.
        if (x.dim() < 2 || x.shape[^1] != x.shape[^2] || x.shape[^1] < 1 || x.shape[^1] > int.MaxValue)
            throw new ArgumentException($"expected square blocks in the last two dimensions, got [{string.Join(", ", x.shape)}]", nameof(x));
        if (!x.is_floating_point())
            throw new ArgumentException($"expected floating-point blocks, got {x.dtype}", nameof(x));
        int b = (int)x.shape[^1];
        var (fwd, inv) = Get(b);
        using var scope = NewDisposeScope();
        // Float32 products leave errors of about 1e-4 on 0..255 values after a round trip; float64 keeps them near 1e-12.
        var work = x.dtype == ScalarType.Float64 ? x : x.to_type(ScalarType.Float64);
        var m = tensor(inverse ? inv : fwd, new long[] { b, b }, dtype: ScalarType.Float64);
        var y = m.matmul(work).matmul(m.t());
        return (x.dtype == ScalarType.Float64 ? y : y.to_type(x.dtype)).MoveToOuterDisposeScope();
    }

    private static (double[] Forward, double[] Inverse) Get(int b)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(b, 1);
        return Matrices.GetOrAdd(b, static n =>
        {
            var f = new double[n * n];
            var i = new double[n * n];
            for (int k = 0; k < n; k++)
                for (int p = 0; p < n; p++)
                {
                    double cos = Math.Cos(Math.PI * k * (2 * p + 1) / (2.0 * n));
                    f[k * n + p] = 2 * cos;
                    i[p * n + k] = (k == 0 ? 1.0 / (2 * n) : 1.0 / n) * cos;
                }
            return (f, i);
        });
    }

    private static void CheckImage(Tensor x, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        if (x.dim() != 4)
            throw new ArgumentException($"expected [N,C,H,W], got [{string.Join(", ", x.shape)}]", nameof(x));
        if (x.shape[2] % blockSize != 0 || x.shape[3] % blockSize != 0)
            throw new ArgumentException($"{x.shape[3]}x{x.shape[2]} is not a multiple of the block size {blockSize}; pad first", nameof(x));
    }
}
