using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Entropy;
using LicBackdoor.Codec.Layers;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Models;

/// <summary>
/// The raster-order autoregressive coding loop of a context model (Minnen et al. 2018; CompressAI
/// <c>_compress_ar</c>/<c>_decompress_ar</c>), made fast. Position (h, w) needs the means and scales from
/// the causal 5x5 context of already decoded ŷ, so the loop is inherently sequential. Instead of several
/// libtorch calls per position, the weights are copied once into managed arrays and each position runs:
/// a gather of the causal neighbours' ŷ (only the unmasked taps), three matrix-vector products in a fixed
/// summation order (16-lane FMA accumulators, rows zero-padded), the index lookup and the rANS step.
/// The hyperprior half of the first 1x1 conv does not depend on ŷ and is computed for all positions in
/// one convolution beforehand. Encoder and decoder run this same code, so their means and scales agree
/// bit for bit, independent of the libtorch thread count or SIMD width.
/// </summary>
internal sealed class ContextCoder
{
    private const int Lanes = 32; // 4 Vector256 accumulators x 8 floats
    private const float Slope = 0.01f; // LeakyReLU default negative slope
    private const int Kernel = 5, Half = 2;

    private readonly int m;          // latent channels
    private readonly int e1, e2;     // hidden widths of entropy_parameters
    private readonly (int Dh, int Dw)[] taps;
    private readonly int ctxIn, ctxInPad, mPad, e1Pad, e2Pad;
    private readonly float[] ctxW, ctxB;   // [2M][ctxInPad]
    private readonly float[] w0c, b0;      // [E1][2M padded]  (context half), bias applied with params half
    private readonly float[] w2, b2;       // [E2][E1Pad]
    private readonly float[] w4, b4;       // [2M][E2Pad]
    private readonly Tensor w0p;           // [E1, 2M, 1, 1] (hyper half), for the bulk conv
    private readonly GaussianConditional gc;

    public ContextCoder(Cheng2020Anchor model)
    {
        gc = model.GaussianConditional;
        var cp = model.ContextPrediction;
        m = model.M;
        if (cp.KernelSize != Kernel || cp.InChannels != m || cp.OutChannels != 2 * m)
            throw new InvalidOperationException("context model must be a 5x5 masked conv M -> 2M");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var mask = cp.Mask.to_type(ScalarType.Float32);
        var expected = MaskedConv2d.BuildMask(2 * m, m, Kernel, Kernel, MaskType.A);
        if (!mask.shape.SequenceEqual(expected.shape) || !mask.equal(expected).all().item<bool>())
            throw new InvalidOperationException("context_prediction.mask is not the causal type-A mask; refusing to code with a non-causal context model");
        var tapList = new List<(int, int)>();
        for (int i = 0; i < Kernel; i++)
            for (int j = 0; j < Kernel; j++)
                if (i < Half || (i == Half && j < Half)) tapList.Add((i - Half, j - Half));
        taps = tapList.ToArray();
        ctxIn = taps.Length * m;
        ctxInPad = Pad(ctxIn);
        mPad = Pad(2 * m);

        // Context conv weight [2M, M, 5, 5] -> rows of gathered taps (tap-major, then channel).
        var wc = cp.MaskedWeight().contiguous().data<float>().ToArray();
        ctxW = new float[2 * m * ctxInPad];
        for (int o = 0; o < 2 * m; o++)
            for (int t = 0; t < taps.Length; t++)
            {
                int ki = taps[t].Dh + Half, kj = taps[t].Dw + Half;
                for (int c = 0; c < m; c++)
                    ctxW[o * ctxInPad + t * m + c] = wc[((o * m + c) * Kernel + ki) * Kernel + kj];
            }
        ctxB = cp.Bias is null ? new float[2 * m] : cp.Bias.contiguous().data<float>().ToArray();

        var ep = model.EntropyParameters;
        var conv0 = (TorchSharp.Modules.Conv2d)ep[0];
        var conv2 = (TorchSharp.Modules.Conv2d)ep[2];
        var conv4 = (TorchSharp.Modules.Conv2d)ep[4];
        e1 = (int)conv0.weight!.shape[0];
        e2 = (int)conv2.weight!.shape[0];
        if (conv0.weight.shape[1] != 4 * m || conv2.weight.shape[1] != e1 || conv4.weight!.shape[0] != 2 * m || conv4.weight.shape[1] != e2)
            throw new InvalidOperationException("entropy_parameters has unexpected shapes");
        e1Pad = Pad(e1); e2Pad = Pad(e2);
        var w0 = conv0.weight.reshape(e1, 4 * m);
        w0p = w0[.., ..(2 * m)].contiguous().reshape(e1, 2 * m, 1, 1).MoveToOuterDisposeScope();
        w0c = PadRows(w0[.., (2 * m)..].contiguous().data<float>().ToArray(), e1, 2 * m, mPad);
        b0 = conv0.bias!.contiguous().data<float>().ToArray();
        w2 = PadRows(conv2.weight.reshape(e2, e1).contiguous().data<float>().ToArray(), e2, e1, e1Pad);
        b2 = conv2.bias!.contiguous().data<float>().ToArray();
        w4 = PadRows(conv4.weight.reshape(2 * m, e2).contiguous().data<float>().ToArray(), 2 * m, e2, e2Pad);
        b4 = conv4.bias!.contiguous().data<float>().ToArray();
    }

    private static int Pad(int n) => (n + Lanes - 1) / Lanes * Lanes;

    private static float[] PadRows(float[] w, int rows, int cols, int stride)
    {
        var r = new float[rows * stride];
        for (int i = 0; i < rows; i++) Array.Copy(w, i * cols, r, i * stride, cols);
        return r;
    }

    /// <summary>Hyper half of the first entropy-parameters layer for every position, position-major [H*W][E1].</summary>
    private float[] HyperTerms(Tensor parameters)
    {
        using var scope = NewDisposeScope();
        var pre = nn.functional.conv2d(parameters, w0p); // no bias: added in the loop, in a fixed order
        return pre[0].permute(1, 2, 0).contiguous().data<float>().ToArray();
    }

    /// <summary>Per-run scratch buffers, allocated once per image.</summary>
    private sealed class Scratch
    {
        public readonly float[] Gathered, Ctx, A1, A2, Gp;
        public readonly int[] Indexes;
        public Scratch(ContextCoder c)
        {
            Gathered = new float[c.ctxInPad];
            Ctx = new float[c.mPad];
            A1 = new float[c.e1Pad];
            A2 = new float[c.e2Pad];
            Gp = new float[2 * c.m];
            Indexes = new int[c.m];
        }
    }

    /// <summary>Computes the means (Gp[M..2M)) and scale indexes for position (h, w) from the padded ŷ.</summary>
    private void PredictPosition(float[] yPad, int wp, int h, int w, float[] hyper, Scratch s, float[] table, float bound)
    {
        // Gather the causal neighbours (padded coordinates: (h+2+dh, w+2+dw)).
        for (int t = 0; t < taps.Length; t++)
        {
            int src = ((h + Half + taps[t].Dh) * wp + (w + Half + taps[t].Dw)) * m;
            Array.Copy(yPad, src, s.Gathered, t * m, m);
        }
        for (int o = 0; o < 2 * m; o++) s.Ctx[o] = ctxB[o] + Dot(ctxW.AsSpan(o * ctxInPad, ctxInPad), s.Gathered);
        int hyperBase = (h * (wp - 2 * Half) + w) * e1;
        for (int o = 0; o < e1; o++)
        {
            float v = (b0[o] + hyper[hyperBase + o]) + Dot(w0c.AsSpan(o * mPad, mPad), s.Ctx);
            s.A1[o] = v >= 0 ? v : v * Slope;
        }
        for (int o = 0; o < e2; o++)
        {
            float v = b2[o] + Dot(w2.AsSpan(o * e1Pad, e1Pad), s.A1);
            s.A2[o] = v >= 0 ? v : v * Slope;
        }
        for (int o = 0; o < 2 * m; o++) s.Gp[o] = b4[o] + Dot(w4.AsSpan(o * e2Pad, e2Pad), s.A2);
        GaussianConditional.BuildIndexes(table, bound, s.Gp.AsSpan(0, m), s.Indexes);
    }

    /// <summary>
    /// The raster-order scan both directions share: for every position, predict its means and scale indexes from
    /// the ŷ decided so far, then let <paramref name="decide"/> write the position's M values of ŷ (at offset
    /// <c>dst</c> of the padded, position-major array) from the scratch's means (<c>Gp[M..2M)</c>) and indexes.
    /// Returns ŷ [1,M,H,W].
    /// </summary>
    private Tensor Scan(Tensor parameters, int hy, int wy, Action<int, int, Scratch, float[], int> decide)
    {
        CheckParams(parameters, hy, wy);
        var hyper = HyperTerms(parameters);
        int wp = wy + 2 * Half;
        var yPad = new float[(hy + 2 * Half) * wp * m];
        var s = new Scratch(this);
        var table = gc.ScaleTableValues();
        float bound = ScaleBound();
        for (int h = 0; h < hy; h++)
            for (int w = 0; w < wy; w++)
            {
                PredictPosition(yPad, wp, h, w, hyper, s, table, bound);
                decide(h, w, s, yPad, ((h + Half) * wp + (w + Half)) * m);
            }
        using var scope = NewDisposeScope();
        var padded = tensor(yPad, new long[] { hy + 2 * Half, wp, m });
        var yHat = padded[Half..(hy + Half), Half..(wy + Half), ..].permute(2, 0, 1).unsqueeze(0).contiguous();
        return yHat.MoveToOuterDisposeScope();
    }

    /// <summary>Encodes one item's y [1,M,H,W] given its hyper parameters [1,2M,H,W]; returns the single y string and ŷ.</summary>
    public (byte[] String, Tensor YHat) Encode(Tensor y, Tensor parameters, RansCdfTable coderTable)
    {
        int hy = (int)y.shape[2], wy = (int)y.shape[3];
        var yData = y[0].permute(1, 2, 0).contiguous().data<float>().ToArray(); // [H][W][M]
        var symbols = new int[hy * wy * m];
        var indexes = new int[hy * wy * m];
        var yHat = Scan(parameters, hy, wy, (h, w, s, yPad, dst) =>
        {
            int src = (h * wy + w) * m;
            for (int c = 0; c < m; c++)
            {
                float mean = s.Gp[m + c];
                float q = MathF.Round(yData[src + c] - mean, MidpointRounding.ToEven);
                if (!float.IsFinite(q) || q < int.MinValue || q > int.MaxValue)
                    throw new ArgumentException($"latent value at ({c},{h},{w}) cannot be entropy coded");
                symbols[src + c] = (int)q;
                indexes[src + c] = s.Indexes[c];
                yPad[dst + c] = q + mean;
            }
        });
        return (RansEncoder.EncodeWithIndexes(symbols, indexes, coderTable), yHat);
    }

    /// <summary>Decodes one item's y string into ŷ [1,M,H,W].</summary>
    public Tensor Decode(byte[] yString, Tensor parameters, RansCdfTable coderTable)
    {
        var decoder = new RansDecoder(coderTable);
        decoder.SetStream(yString);
        var q = new int[m];
        var yHat = Scan(parameters, (int)parameters.shape[2], (int)parameters.shape[3], (_, _, s, yPad, dst) =>
        {
            decoder.DecodeStream(s.Indexes, q);
            for (int c = 0; c < m; c++) yPad[dst + c] = q[c] + s.Gp[m + c];
        });
        if (!decoder.IsAtEnd)
        {
            yHat.Dispose();
            throw new InvalidBitstreamException("y string does not end where its symbols end (corrupt or mismatched stream)");
        }
        return yHat;
    }

    private float ScaleBound() => Math.Max(gc.ScaleBoundValue, 0f);

    private void CheckParams(Tensor parameters, int hy, int wy)
    {
        if (parameters.dim() != 4 || parameters.shape[1] != 2 * m || parameters.shape[2] != hy || parameters.shape[3] != wy)
            throw new ArgumentException("hyper parameters do not match the latent shape");
    }

    /// <summary>
    /// Dot product with a fixed summation order: four 8-lane FMA accumulators over chunks of 32 (inputs are
    /// zero-padded to a multiple of 32), combined as (a0+a1)+(a2+a3), then the 8 lanes pairwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var va = MemoryMarshal.Cast<float, Vector256<float>>(a);
        var vb = MemoryMarshal.Cast<float, Vector256<float>>(b);
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        int n = va.Length;
        for (int i = 0; i + 3 < n; i += 4)
        {
            s0 = Vector256.FusedMultiplyAdd(va[i], vb[i], s0);
            s1 = Vector256.FusedMultiplyAdd(va[i + 1], vb[i + 1], s1);
            s2 = Vector256.FusedMultiplyAdd(va[i + 2], vb[i + 2], s2);
            s3 = Vector256.FusedMultiplyAdd(va[i + 3], vb[i + 3], s3);
        }
        var sum = (s0 + s1) + (s2 + s3);
        float l0 = sum.GetElement(0) + sum.GetElement(1), l1 = sum.GetElement(2) + sum.GetElement(3);
        float l2 = sum.GetElement(4) + sum.GetElement(5), l3 = sum.GetElement(6) + sum.GetElement(7);
        return (l0 + l1) + (l2 + l3);
    }
}
