namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// Conversion of a probability mass function into the integer cumulative frequency table used by the
/// rANS coder, with the exact integer behaviour of CompressAI's <c>pmf_to_quantized_cdf</c>.
/// </summary>
/// <remarks>
/// Algorithm (spec §4): every probability is scaled by <c>2^precision</c> in float32 and rounded half
/// away from zero; the rounded values are renormalised with 64-bit integer division so that they sum to
/// at most <c>2^precision</c>; the prefix sums form the CDF whose last entry is forced to
/// <c>2^precision</c>; finally every bin left with zero frequency, in ascending order, takes one count
/// from the bin with the smallest frequency above one (lowest index on ties).
/// <para>
/// The reference implementation searches for that donor bin with a full scan per zero bin (quadratic);
/// here the donor order is computed once by sorting. Only the current donor's frequency ever changes,
/// and it stays the strict minimum until it reaches one, so the result is identical.
/// </para>
/// </remarks>
public static class QuantizedCdf
{
    /// <summary>The entropy-coder precision CompressAI uses for both entropy models (16 bits).</summary>
    public const int DefaultPrecision = 16;

    /// <summary>Largest supported precision; the CDF values are held in <see cref="int"/>.</summary>
    public const int MaxPrecision = 30;

    /// <summary>
    /// Returns the quantized CDF (length <c>pmf.Length + 1</c>, first entry 0, last <c>2^precision</c>,
    /// every bin at least 1) of a float32 pmf, bit-exact with CompressAI.
    /// </summary>
    /// <param name="pmf">Non-negative finite probabilities; they need not sum to one.</param>
    /// <param name="precision">Bits of probability precision, 1..<see cref="MaxPrecision"/>.</param>
    /// <exception cref="ArgumentException">The pmf is empty, holds a negative or non-finite value, rounds
    /// to all zeros, has more entries than <c>2^precision</c>, or has values too large for 32-bit
    /// counts (where the reference has undefined behaviour).</exception>
    public static int[] FromPmf(ReadOnlySpan<float> pmf, int precision = DefaultPrecision)
    {
        if (precision < 1 || precision > MaxPrecision)
            throw new ArgumentOutOfRangeException(nameof(precision), precision, $"precision must be in 1..{MaxPrecision}");
        if (pmf.IsEmpty)
            throw new ArgumentException("pmf is empty", nameof(pmf));
        long one = 1L << precision;
        int n = pmf.Length;
        if (n > one)
            throw new ArgumentException($"pmf has {n} entries, more than 2^{precision}: some bin would get zero frequency", nameof(pmf));

        // f[k] = round(p[k] * 2^precision); the float32 product is exact (power of two), so double gives the same value.
        var freq = new long[n];
        long total = 0;
        for (int k = 0; k < n; k++)
        {
            float p = pmf[k];
            if (!float.IsFinite(p) || p < 0f)
                throw new ArgumentException($"pmf[{k}] = {p} is negative or not finite", nameof(pmf));
            double scaled = Math.Round((double)p * one, MidpointRounding.AwayFromZero);
            if (scaled > uint.MaxValue)
                throw new ArgumentException($"pmf[{k}] = {p} is too large for 32-bit frequency counts", nameof(pmf));
            freq[k] = (long)scaled;
            total += freq[k];
        }
        if (total == 0)
            throw new ArgumentException("every pmf entry rounds to zero at this precision", nameof(pmf));
        if (total > uint.MaxValue)
            throw new ArgumentException("pmf sum is too large for 32-bit frequency counts", nameof(pmf));

        // Renormalise: f = (2^precision * f) / total, 64-bit integer division (operands < 2^62).
        long sum = 0;
        for (int k = 0; k < n; k++)
        {
            freq[k] = one * freq[k] / total;
            sum += freq[k];
        }
        // The last CDF entry is forced to 2^precision: the last bin absorbs the rounding deficit (sum <= one).
        freq[n - 1] += one - sum;

        StealForZeroBins(freq);

        var cdf = new int[n + 1];
        long acc = 0;
        for (int k = 0; k < n; k++)
        {
            acc += freq[k];
            cdf[k + 1] = (int)acc;
        }
        return cdf;
    }

    /// <summary>Gives each zero bin (ascending) one count from the smallest bin above one (lowest index on ties).</summary>
    private static void StealForZeroBins(long[] freq)
    {
        int n = freq.Length;
        int zeros = 0, donors = 0;
        for (int k = 0; k < n; k++)
        {
            if (freq[k] == 0) zeros++;
            else if (freq[k] > 1) donors++;
        }
        if (zeros == 0) return;

        // Donor order by (frequency, index). Frequencies fit in 31 bits, indexes in 31 bits.
        var order = new long[donors];
        int d = 0;
        for (int k = 0; k < n; k++)
            if (freq[k] > 1) order[d++] = (freq[k] << 32) | (uint)k;
        Array.Sort(order);

        int next = 0;
        for (int k = 0; k < n; k++)
        {
            if (freq[k] != 0) continue;
            // n <= 2^precision guarantees a donor exists: the frequencies sum to 2^precision >= n.
            if (next >= donors)
                throw new InvalidOperationException("no bin left to take a count from (internal invariant broken)");
            int donor = (int)(order[next] & 0xFFFFFFFF);
            freq[donor]--;
            freq[k] = 1;
            if (freq[donor] == 1) next++;
        }
    }
}
