namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// CompressAI's <c>GaussianConditional</c> entropy tables: the default scale table and the quantized
/// CDFs that <c>GaussianConditional.update()</c> derives from a scale table (spec §4), bit-exact.
/// </summary>
public static class GaussianConditionalTables
{
    /// <summary>Smallest scale (<c>SCALES_MIN</c>, also the scale lower bound).</summary>
    public const double ScalesMin = 0.11;

    /// <summary>Largest scale (<c>SCALES_MAX</c>).</summary>
    public const double ScalesMax = 256;

    /// <summary>Number of scales (<c>SCALES_LEVELS</c>).</summary>
    public const int ScalesLevels = 64;

    /// <summary>Largest pmf centre accepted: the pmf then has 2^16 - 1 entries, the most a 16-bit CDF can hold with the tail bin.</summary>
    public const int MaxCenter = (1 << 15) - 1;

    /// <summary>float32 of <c>-(2^-0.5)</c>, as torch applies the Python constant to a float32 tensor.</summary>
    private const float NegInvSqrt2 = (float)-0.70710678118654752440;

    /// <summary>
    /// Bit patterns of <c>torch.exp(torch.linspace(ln 0.11, ln 256, 64))</c> in float32 as CompressAI's
    /// <c>get_scale_table()</c> produces them on x86-64 (PyTorch 1.13, AVX2 kernels).
    /// </summary>
    /// <remarks>
    /// These are constants rather than a computation because torch's vectorised float32 <c>exp</c> is
    /// not correctly rounded: computing <c>exp</c> of the same float32 linspace values with a correctly
    /// rounded <c>exp</c> gives 56 of these 64 values exactly and the other 8 one unit in the last place
    /// away (the tests check both facts). Checkpoints carry their own scale table, so this only matters
    /// for models whose tables are built here.
    /// </remarks>
    private static readonly uint[] DefaultScaleTableBits =
    [
        0x3de147ae, 0x3dfec793, 0x3e101230, 0x3e22efc7, 0x3e3845c8, 0x3e506704, 0x3e6bb124, 0x3e85470a,
        0x3e96bacd, 0x3eaa779a, 0x3ec0ca0e, 0x3eda08ca, 0x3ef695cc, 0x3f0b6ff2, 0x3f1db234, 0x3f325889,
        0x3f49b318, 0x3f641c86, 0x3f80fdab, 0x3f91e1bd, 0x3fa4fc07, 0x3fba96ae, 0x3fd3058e, 0x3feea77c,
        0x4006f3dc, 0x40189fc7, 0x402c9c16, 0x4043365c, 0x405cc652, 0x4079af2f, 0x408d3097, 0x409fad98,
        0x40b4965a, 0x40cc3c0c, 0x40e6fa76, 0x41029cb1, 0x4113b71b, 0x41270eda, 0x413cef04, 0x4155ac84,
        0x4171a758, 0x4188a610, 0x419a8ad8, 0x41aec774, 0x41c5aa71, 0x41df8ca6, 0x41fcd287, 0x420ef6dd,
        0x4221af59, 0x4236db64, 0x424ecd30, 0x4269e1a0, 0x428440f0, 0x42959263, 0x42a9285d, 0x42bf4eec,
        0x42d85c06, 0x42f4b0e5, 0x430a5dbd, 0x431c7c18, 0x4330f9ce, 0x43482672, 0x43625bf2, 0x43800000,
    ];

    /// <summary>CompressAI's default scale table (<c>get_scale_table()</c>): 64 float32 scales from 0.11 to 256, bit-exact.</summary>
    public static float[] DefaultScaleTable()
    {
        var table = new float[DefaultScaleTableBits.Length];
        for (int i = 0; i < table.Length; i++)
            table[i] = BitConverter.UInt32BitsToSingle(DefaultScaleTableBits[i]);
        return table;
    }

    /// <summary>
    /// <c>exp(linspace(ln min, ln max, levels))</c> computed the way torch lays out a float32 linspace
    /// (float32 step, halves anchored at each end, 8-lane vector blocks) followed by a correctly rounded
    /// float32 <c>exp</c>. Within one ulp of torch's values; see <see cref="DefaultScaleTable"/>.
    /// </summary>
    internal static float[] ComputeScaleTable(double min, double max, int levels)
    {
        if (levels < 2) throw new ArgumentOutOfRangeException(nameof(levels));
        float start = (float)Math.Log(min), end = (float)Math.Log(max);
        float step = (end - start) / (levels - 1);
        int halfway = levels / 2;
        const int lanes = 8;
        var result = new float[levels];
        for (int i = 0; i < levels; i++)
        {
            int blockStart = i - i % lanes;
            float baseValue = blockStart < halfway
                ? start + step * blockStart
                : end - step * (levels - blockStart - 1);
            float lin = baseValue + (i % lanes) * step;
            result[i] = (float)Math.Exp(lin);
        }
        return result;
    }

    /// <summary>
    /// The tables CompressAI's <c>GaussianConditional.update()</c> builds for <paramref name="scaleTable"/>
    /// (spec §4): row <c>i</c> holds the quantized CDF of a zero-mean Gaussian of scale <c>scaleTable[i]</c>
    /// discretised to integers in <c>[-c, c]</c>, <c>c = ceil(scale * -Phi^-1(tailMass/2))</c>, plus the tail bin;
    /// <c>Offset = -c</c>, <c>CdfLength = 2c + 3</c>, stride = the largest CDF length. All arithmetic
    /// follows torch's float32 evaluation (correctly rounded float32 <c>erfc</c>), giving the same bits.
    /// </summary>
    /// <exception cref="ArgumentException">Empty table, a scale that is not finite and positive, a scale so
    /// large that its pmf cannot fit a 16-bit CDF, or <paramref name="tailMass"/> outside (0, 1).</exception>
    public static RansCdfTable Build(ReadOnlySpan<float> scaleTable, double tailMass = 1e-9)
    {
        if (scaleTable.IsEmpty)
            throw new ArgumentException("scale table is empty", nameof(scaleTable));
        if (!(tailMass > 0 && tailMass < 1))
            throw new ArgumentOutOfRangeException(nameof(tailMass), tailMass, "tail mass must be in (0, 1)");

        // torch: scale_table (float32) * multiplier (Python float, applied as float32), then ceil.
        float multiplier = (float)-SpecialFunctions.NormalQuantile(tailMass / 2);
        int rows = scaleTable.Length;
        var centers = new int[rows];
        int maxLength = 0;
        for (int i = 0; i < rows; i++)
        {
            float s = scaleTable[i];
            if (!float.IsFinite(s) || s <= 0)
                throw new ArgumentException($"scale[{i}] = {s} must be finite and positive", nameof(scaleTable));
            float c = MathF.Ceiling(s * multiplier);
            if (c > MaxCenter)
                throw new ArgumentException($"scale[{i}] = {s} is too large: its pmf would need {2 * (double)c + 1} bins (at most {2 * MaxCenter + 1})", nameof(scaleTable));
            centers[i] = Math.Max((int)c, 0);
            maxLength = Math.Max(maxLength, 2 * centers[i] + 1);
        }

        int stride = maxLength + 2;
        var cdf = new int[rows * stride];
        var lengths = new int[rows];
        var offsets = new int[rows];
        var pmf = new float[maxLength + 1];
        var phi = new float[maxLength / 2 + 3];
        for (int i = 0; i < rows; i++)
        {
            float s = scaleTable[i];
            int c = centers[i];
            int length = 2 * c + 1;
            // phi[m] = Phi((0.5 - m) / s): the upper bound of the bin at distance m, and the lower bound of distance m - 1.
            for (int m = 0; m <= c + 1; m++)
                phi[m] = StandardizedCumulative((0.5f - m) / s);
            for (int k = 0; k < length; k++)
            {
                int m = Math.Abs(k - c);
                pmf[k] = phi[m] - phi[m + 1];
            }
            pmf[length] = 2 * phi[c + 1]; // tail mass: 2 * Phi((-0.5 - c) / s)
            int[] row = QuantizedCdf.FromPmf(pmf.AsSpan(0, length + 1));
            row.CopyTo(cdf, i * stride);
            lengths[i] = length + 2;
            offsets[i] = -c;
        }
        return new RansCdfTable(cdf, stride, lengths, offsets);
    }

    /// <summary>torch's float32 <c>0.5 * erfc(-(2^-0.5) * v)</c>, with a correctly rounded float32 erfc.</summary>
    private static float StandardizedCumulative(float v)
    {
        float arg = NegInvSqrt2 * v;
        return 0.5f * (float)SpecialFunctions.Erfc(arg);
    }
}
