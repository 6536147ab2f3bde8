using System.Text.Json;
using LicBackdoor.Codec.Entropy;

namespace LicBackdoor.Tests.Codec.Entropy;

/// <summary>Rebuilding CompressAI's entropy-model tables (spec §3, §4) bit-exactly.</summary>
public sealed class EntropyTablesTests
{
    [Fact]
    public void DefaultScaleTableMatchesFixtureBits()
    {
        float[] expected = EntropyFixtures.FloatsFromHex(EntropyFixtures.GaussianConditional.GetProperty("scale_table_f32_hex"));
        float[] actual = GaussianConditionalTables.DefaultScaleTable();
        Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), actual.Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal(0.11f, actual[0]);
        Assert.Equal(256f, actual[^1]);
    }

    [Fact]
    public void DefaultScaleTableIsTheFormulaWithinOneUlp()
    {
        // The constants are torch's float32 exp(linspace(ln 0.11, ln 256, 64)); a correctly rounded exp gives
        // the same bits in 56 places and differs by one ulp in the other 8 (torch's vectorised exp).
        float[] table = GaussianConditionalTables.DefaultScaleTable();
        float[] computed = GaussianConditionalTables.ComputeScaleTable(0.11, 256, 64);
        int exact = 0;
        for (int i = 0; i < 64; i++)
        {
            long diff = Math.Abs((long)BitConverter.SingleToUInt32Bits(table[i]) - BitConverter.SingleToUInt32Bits(computed[i]));
            Assert.True(diff <= 1, $"entry {i}: {table[i]} vs {computed[i]}");
            if (diff == 0) exact++;
        }
        Assert.Equal(56, exact);
    }

    [Fact]
    public void MultiplierMatchesScipy()
    {
        double expected = EntropyFixtures.GaussianConditional.GetProperty("multiplier_f64").GetDouble();
        double actual = -SpecialFunctions.NormalQuantile(1e-9 / 2);
        Assert.Equal(expected, actual, 1e-14);
        Assert.Equal((float)expected, (float)actual);
    }

    [Theory]
    [InlineData(-3.0, 1.9999779095030015)]
    [InlineData(-1.0, 1.842700792949715)]
    [InlineData(-0.25, 1.276326390168237)]
    [InlineData(0.0, 1.0)]
    [InlineData(1e-05, 0.9999887162083294)]
    [InlineData(0.3, 0.6713732405408726)]
    [InlineData(0.5, 0.4795001221869535)]
    [InlineData(0.99, 0.1614919304446302)]
    [InlineData(1.0, 0.15729920705028513)]
    [InlineData(1.5, 0.033894853524689274)]
    [InlineData(2.0, 0.004677734981047265)]
    [InlineData(3.0, 2.2090496998585438e-05)]
    [InlineData(4.5, 1.9661604415428873e-10)]
    [InlineData(6.0, 2.1519736712498916e-17)]
    [InlineData(8.0, 1.1224297172982928e-29)]
    [InlineData(10.0, 2.088487583762545e-45)]
    [InlineData(15.0, 7.212994172451206e-100)]
    [InlineData(26.0, 5.663192408856143e-296)]
    public void ErfcIsAccurate(double x, double expected)
    {
        double actual = SpecialFunctions.Erfc(x);
        Assert.True(Math.Abs(actual - expected) <= 2e-15 * expected, $"erfc({x}) = {actual:R}, expected {expected:R}");
    }

    [Fact]
    public void ErfcEdgeCases()
    {
        Assert.Equal(0.0, SpecialFunctions.Erfc(30));
        Assert.Equal(2.0, SpecialFunctions.Erfc(-30));
        Assert.True(double.IsNaN(SpecialFunctions.Erfc(double.NaN)));
        Assert.Equal(0.0, SpecialFunctions.Erfc(double.PositiveInfinity));
    }

    [Fact]
    public void GaussianConditionalTablesMatchFixture()
    {
        JsonElement g = EntropyFixtures.GaussianConditional;
        float[] scales = EntropyFixtures.FloatsFromHex(g.GetProperty("scale_table_f32_hex"));
        RansCdfTable built = GaussianConditionalTables.Build(scales, g.GetProperty("tail_mass").GetDouble());
        RansCdfTable expected = EntropyFixtures.GaussianTable;
        AssertSameTable(expected, built);
        Assert.Equal(3133, built.Stride);
    }

    [Fact]
    public void DefaultScaleTableBuildsTheSameTables()
    {
        AssertSameTable(EntropyFixtures.GaussianTable, GaussianConditionalTables.Build(GaussianConditionalTables.DefaultScaleTable()));
    }

    [Fact]
    public void GaussianBuildRejectsBadScales()
    {
        Assert.Throws<ArgumentException>(() => GaussianConditionalTables.Build([]));
        Assert.Throws<ArgumentException>(() => GaussianConditionalTables.Build([0.5f, -1f]));
        Assert.Throws<ArgumentException>(() => GaussianConditionalTables.Build([0f]));
        Assert.Throws<ArgumentException>(() => GaussianConditionalTables.Build([float.NaN]));
        Assert.Throws<ArgumentException>(() => GaussianConditionalTables.Build([1e6f]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GaussianConditionalTables.Build([1f], 0));
    }

    [Fact]
    public void EntropyBottleneckCdfsMatchFixture()
    {
        JsonElement eb = EntropyFixtures.EntropyBottleneck;
        JsonElement[] expectedRows = eb.GetProperty("quantized_cdf").EnumerateArray().ToArray();
        int[] lengths = EntropyFixtures.Ints(eb.GetProperty("cdf_length"));
        int[] pmfLengths = EntropyFixtures.Ints(eb.GetProperty("pmf_length"));
        JsonElement[] pmfs = eb.GetProperty("update_pmfs").EnumerateArray().ToArray();
        Assert.Equal(eb.GetProperty("channels").GetInt32(), pmfs.Length);
        for (int c = 0; c < pmfs.Length; c++)
        {
            float[] pmf = EntropyFixtures.Floats(pmfs[c].GetProperty("pmf_plus_tail_f32"));
            Assert.Equal(pmfLengths[c] + 1, pmf.Length);
            int[] cdf = QuantizedCdf.FromPmf(pmf);
            Assert.Equal(lengths[c], cdf.Length);
            int[] expected = EntropyFixtures.Ints(expectedRows[c]);
            Assert.Equal(expected.AsSpan(0, cdf.Length).ToArray(), cdf);
            Assert.All(expected.AsSpan(cdf.Length).ToArray(), v => Assert.Equal(0, v));
        }
    }

    private static void AssertSameTable(RansCdfTable expected, RansCdfTable actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Stride, actual.Stride);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected.CdfLength(i), actual.CdfLength(i));
            Assert.Equal(expected.Offset(i), actual.Offset(i));
            Assert.True(expected.Row(i).SequenceEqual(actual.Row(i)), $"row {i} differs");
        }
    }
}
