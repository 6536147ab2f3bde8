using System.Text.Json;
using LicBackdoor.Codec.Entropy;

namespace LicBackdoor.Tests.Codec.Entropy;

public sealed class QuantizedCdfTests
{
    [Fact]
    public void CompressAiTestVector()
    {
        Assert.Equal([0, 21845, 65534, 65535, 65536], QuantizedCdf.FromPmf([0.1f, 0.2f, 0f, 0f]));
    }

    [Theory]
    [InlineData("uniform4")]
    [InlineData("zero_in_middle")]
    [InlineData("leading_zeros")]
    [InlineData("tiny_probs_round_to_zero")]
    [InlineData("unnormalized_sum_0.9")]
    [InlineData("thirds_rounding")]
    [InlineData("zeros_mixed_with_tail")]
    [InlineData("precision_8_skewed")]
    [InlineData("gaussian_3131_scale256_erfc_f32")]
    public void MatchesCompressAiFixture(string name)
    {
        JsonElement c = EntropyFixtures.PmfToQuantizedCdf.GetProperty("cases").EnumerateArray()
            .Single(e => e.GetProperty("name").GetString() == name);
        float[] pmf = EntropyFixtures.FloatsFromHex(c.GetProperty("pmf_f32_hex"));
        int precision = c.GetProperty("precision").GetInt32();
        Assert.Equal(EntropyFixtures.Ints(c.GetProperty("cdf")), QuantizedCdf.FromPmf(pmf, precision));
    }

    [Fact]
    public void FixtureHasNoOtherCases()
    {
        Assert.Equal(9, EntropyFixtures.PmfToQuantizedCdf.GetProperty("cases").GetArrayLength());
    }

    [Theory]
    [InlineData(-0.1f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void RejectsNegativeAndNonFinite(float bad)
    {
        Assert.Throws<ArgumentException>(() => QuantizedCdf.FromPmf([0.5f, bad, 0.5f]));
    }

    [Fact]
    public void RejectsDegenerateInput()
    {
        Assert.Throws<ArgumentException>(() => QuantizedCdf.FromPmf([]));
        Assert.Throws<ArgumentException>(() => QuantizedCdf.FromPmf([0f, 0f]));          // all zero: reference divides by zero
        Assert.Throws<ArgumentException>(() => QuantizedCdf.FromPmf([1e-9f, 1e-9f]));    // rounds to all zero
        Assert.Throws<ArgumentException>(() => QuantizedCdf.FromPmf([1f, 1f, 1f], 1));   // 3 bins > 2^1
        Assert.Throws<ArgumentException>(() => QuantizedCdf.FromPmf([1e30f, 1f]));       // beyond 32-bit counts
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedCdf.FromPmf([1f], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedCdf.FromPmf([1f], 31));
    }

    [Fact]
    public void SingleEntryAndFullAlphabet()
    {
        Assert.Equal([0, 65536], QuantizedCdf.FromPmf([0.3f]));
        // 2^4 bins at precision 4: every bin must end up with exactly one count.
        var pmf = new float[16];
        pmf[3] = 1f;
        int[] cdf = QuantizedCdf.FromPmf(pmf, 4);
        Assert.Equal(Enumerable.Range(0, 17).ToArray(), cdf);
    }

    [Fact]
    public void MatchesQuadraticReferenceOnRandomPmfs()
    {
        var rng = new Random(1234);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = rng.Next(1, trial < 200 ? 40 : 600);
            int precision = rng.Next(0, 4) == 0 ? rng.Next(Math.Max(1, (int)Math.Ceiling(Math.Log2(n))), 17) : 16;
            var pmf = new float[n];
            for (int k = 0; k < n; k++)
            {
                pmf[k] = rng.Next(0, 4) switch
                {
                    0 => 0f,
                    1 => (float)(rng.NextDouble() * 1e-6),
                    2 => (float)Math.Exp(-rng.NextDouble() * 20),
                    _ => (float)rng.NextDouble(),
                };
            }
            pmf[rng.Next(n)] = 0.5f; // never all zero
            int[] expected = ReferencePmfToQuantizedCdf(pmf, precision);
            int[] actual = QuantizedCdf.FromPmf(pmf, precision);
            Assert.Equal(expected, actual);
            Assert.Equal(0, actual[0]);
            Assert.Equal(1 << precision, actual[^1]);
            for (int k = 0; k < n; k++) Assert.True(actual[k + 1] > actual[k]);
        }
    }

    /// <summary>Straightforward transcription of the spec §4 algorithm (quadratic donor search), for cross-checking.</summary>
    private static int[] ReferencePmfToQuantizedCdf(float[] pmf, int precision)
    {
        int n = pmf.Length;
        var cdf = new uint[n + 1];
        for (int k = 0; k < n; k++)
            cdf[k + 1] = (uint)MathF.Round(pmf[k] * (1 << precision), MidpointRounding.AwayFromZero);
        uint total = 0;
        foreach (uint v in cdf) total += v;
        for (int k = 0; k <= n; k++)
            cdf[k] = (uint)(((ulong)(1u << precision) * cdf[k]) / total);
        for (int k = 1; k <= n; k++) cdf[k] += cdf[k - 1];
        cdf[n] = 1u << precision;
        for (int i = 0; i < n; i++)
        {
            if (cdf[i] != cdf[i + 1]) continue;
            uint bestFreq = uint.MaxValue;
            int bestSteal = -1;
            for (int j = 0; j < n; j++)
            {
                uint freq = cdf[j + 1] - cdf[j];
                if (freq > 1 && freq < bestFreq)
                {
                    bestFreq = freq;
                    bestSteal = j;
                }
            }
            Assert.NotEqual(-1, bestSteal);
            if (bestSteal < i)
                for (int j = bestSteal + 1; j <= i; j++) cdf[j]--;
            else
                for (int j = i + 1; j <= bestSteal; j++) cdf[j]++;
        }
        return cdf.Select(v => (int)v).ToArray();
    }
}
