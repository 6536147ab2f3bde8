using System.Text.Json;
using LicBackdoor.Codec.Entropy;

namespace LicBackdoor.Tests.Codec.Entropy;

/// <summary>Byte-exactness against CompressAI and round trips of the rANS coder.</summary>
public sealed class RansCoderTests
{
    private static readonly string[] FixtureStreams =
    [
        "empty", "single_zero_idx0", "two_symbols", "single_bypass_idx0_value_eq_max",
        "single_bypass_idx63_negative", "gauss_2000_with_bypass", "edge_sweep_64_tables",
    ];

    public static TheoryData<string> StreamNames() => new(FixtureStreams);

    [Fact]
    public void FixtureListsExactlyTheseStreams()
    {
        Assert.Equal(FixtureStreams, EntropyFixtures.StreamNames().ToArray());
    }

    [Theory]
    [MemberData(nameof(StreamNames))]
    public void EncodesFixtureStreamByteExact(string name)
    {
        JsonElement s = EntropyFixtures.Stream(name);
        int[] symbols = EntropyFixtures.Ints(s.GetProperty("symbols"));
        int[] indexes = EntropyFixtures.Ints(s.GetProperty("indexes"));
        byte[] bytes = RansEncoder.EncodeWithIndexes(symbols, indexes, EntropyFixtures.GaussianTable);
        Assert.Equal(s.GetProperty("bytes_hex").GetString(), Convert.ToHexStringLower(bytes));
        Assert.Equal(s.GetProperty("bytes_len").GetInt32(), bytes.Length);
    }

    [Theory]
    [MemberData(nameof(StreamNames))]
    public void DecodesFixtureStream(string name)
    {
        JsonElement s = EntropyFixtures.Stream(name);
        int[] symbols = EntropyFixtures.Ints(s.GetProperty("symbols"));
        int[] indexes = EntropyFixtures.Ints(s.GetProperty("indexes"));
        byte[] bytes = Convert.FromHexString(s.GetProperty("bytes_hex").GetString()!);
        Assert.Equal(symbols, RansDecoder.DecodeWithIndexes(bytes, indexes, EntropyFixtures.GaussianTable));
    }

    [Fact]
    public void EmptyStreamIsTheInitialState()
    {
        var table = EntropyFixtures.GaussianTable;
        byte[] bytes = RansEncoder.EncodeWithIndexes([], [], table);
        Assert.Equal("0000008000000000", Convert.ToHexStringLower(bytes));
        Assert.Empty(RansDecoder.DecodeWithIndexes(bytes, [], table));
        Assert.Equal(bytes, new RansEncoder().Flush());
    }

    [Fact]
    public void SingleSymbolRoundTrips()
    {
        var table = EntropyFixtures.GaussianTable;
        foreach (int idx in new[] { 0, 17, 63 })
        {
            foreach (int sym in new[] { 0, 1, -1, table.Offset(idx), -table.Offset(idx), 5000, -5000, int.MaxValue, int.MinValue })
            {
                byte[] bytes = RansEncoder.EncodeWithIndexes([sym], [idx], table);
                Assert.Equal(0, bytes.Length % 4);
                Assert.Equal([sym], RansDecoder.DecodeWithIndexes(bytes, [idx], table));
            }
        }
    }

    [Fact]
    public void ExtremeValuesRoundTripQuickly()
    {
        var table = EntropyFixtures.GaussianTable;
        int[] values =
        [
            int.MinValue, int.MaxValue, int.MinValue + 1, int.MaxValue - 1, 1 << 27, -(1 << 27), (1 << 27) + 1565,
            (1 << 28) + 7, -(1 << 30), 1 << 30, 0x7FFF_0000, -0x7FFF_0000, 1566, -1566, 1565, -1565, 3, -3,
        ];
        var symbols = new List<int>();
        var indexes = new List<int>();
        for (int idx = 0; idx < table.Count; idx += 7)
        {
            foreach (int v in values)
            {
                symbols.Add(v);
                indexes.Add(idx);
            }
        }
        var watch = System.Diagnostics.Stopwatch.StartNew();
        byte[] bytes = RansEncoder.EncodeWithIndexes(symbols.ToArray(), indexes.ToArray(), table);
        int[] decoded = RansDecoder.DecodeWithIndexes(bytes, indexes.ToArray(), table);
        Assert.Equal(symbols, decoded);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void WideValuesExerciseBypassCountRuns()
    {
        // 64-bit escapes need 16 nibbles, sent as the count run [15, 1]: the max_bypass_val path.
        var table = EntropyFixtures.GaussianTable;
        long[] symbols = [(1L << 61) + 12345, -(1L << 61) - 999, (1L << 62) - 1, -(1L << 62) + 1, 0, 1L << 40, 7, long.MaxValue >> 2];
        int[] indexes = [0, 63, 5, 40, 0, 12, 63, 1];
        var encoder = new RansEncoder();
        encoder.EncodeWide(symbols, indexes, table);
        byte[] bytes = encoder.Flush();
        var decoder = new RansDecoder(table);
        decoder.SetStream(bytes);
        var decoded = new long[symbols.Length];
        decoder.DecodeStreamWide(indexes, decoded);
        Assert.Equal(symbols, decoded);
        Assert.True(decoder.IsAtEnd);

        // The public 32-bit decoder rejects such a value instead of truncating it.
        Assert.Throws<LicBackdoor.Codec.Bitstream.InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(bytes, indexes, table));
    }

    [Fact]
    public void RandomTablesRoundTrip()
    {
        var rng = new Random(20240601);
        for (int trial = 0; trial < 40; trial++)
        {
            RansCdfTable table = RandomTable(rng, rng.Next(1, 20), rng.Next(1, trial % 4 == 0 ? 1500 : 40));
            int n = rng.Next(0, 3000);
            int[] indexes = new int[n], symbols = new int[n];
            for (int i = 0; i < n; i++)
            {
                int idx = rng.Next(table.Count);
                indexes[i] = idx;
                int offset = table.Offset(idx), maxValue = table.CdfLength(idx) - 2;
                symbols[i] = rng.Next(100) switch
                {
                    < 80 => offset + rng.Next(maxValue),                           // in range
                    < 88 => offset + maxValue + rng.Next(0, 40),                    // just above (incl. == max_value)
                    < 94 => offset - 1 - rng.Next(0, 40),                          // just below
                    < 97 => rng.Next(int.MinValue, int.MaxValue),                  // anywhere
                    _ => rng.Next(2) == 0 ? int.MaxValue - rng.Next(3) : int.MinValue + rng.Next(3),
                };
            }
            byte[] bytes = RansEncoder.EncodeWithIndexes(symbols, indexes, table);
            Assert.Equal(0, bytes.Length % 4);
            Assert.True(bytes.Length >= 8);
            Assert.Equal(symbols, RansDecoder.DecodeWithIndexes(bytes, indexes, table));
        }
    }

    [Fact]
    public void SeveralEncodeCallsEqualOneCall()
    {
        var rng = new Random(7);
        var table = EntropyFixtures.GaussianTable;
        (int[] symbols, int[] indexes) = GaussianStream(rng, 5000);
        byte[] once = RansEncoder.EncodeWithIndexes(symbols, indexes, table);

        var encoder = new RansEncoder();
        int pos = 0;
        foreach (int chunk in new[] { 0, 1, 17, 1000, 2, 3000 })
        {
            encoder.Encode(symbols.AsSpan(pos, chunk), indexes.AsSpan(pos, chunk), table);
            pos += chunk;
        }
        encoder.Encode(symbols.AsSpan(pos), indexes.AsSpan(pos), table);
        Assert.Equal(once, encoder.Flush());

        // The encoder is reset by Flush and reusable.
        Assert.Equal(0, encoder.BufferedEntries);
        encoder.Encode(symbols.AsSpan(0, 10), indexes.AsSpan(0, 10), table);
        Assert.Equal(RansEncoder.EncodeWithIndexes(symbols.AsSpan(0, 10), indexes.AsSpan(0, 10), table), encoder.Flush());
        encoder.Encode(symbols, indexes, table);
        Assert.Equal(once, encoder.Flush());
    }

    [Fact]
    public void ChunkedDecodeEqualsWholeDecode()
    {
        var rng = new Random(11);
        var table = EntropyFixtures.GaussianTable;
        (int[] symbols, int[] indexes) = GaussianStream(rng, 4000);
        byte[] bytes = RansEncoder.EncodeWithIndexes(symbols, indexes, table);
        Assert.Equal(symbols, RansDecoder.DecodeWithIndexes(bytes, indexes, table));

        var decoder = new RansDecoder(table);
        decoder.SetStream(bytes);
        var decoded = new int[symbols.Length];
        int pos = 0;
        while (pos < symbols.Length)
        {
            int chunk = Math.Min(rng.Next(0, 200), symbols.Length - pos);
            Assert.False(decoder.IsAtEnd);
            decoder.DecodeStream(indexes.AsSpan(pos, chunk), decoded.AsSpan(pos, chunk));
            pos += chunk;
        }
        Assert.Equal(symbols, decoded);
        Assert.True(decoder.IsAtEnd);

        // SetStream restarts.
        decoder.SetStream(bytes);
        var again = new int[10];
        decoder.DecodeStream(indexes.AsSpan(0, 10), again);
        Assert.Equal(symbols.AsSpan(0, 10).ToArray(), again);
    }

    [Fact]
    public void EncoderRejectsBadArgumentsWithoutSideEffects()
    {
        var table = EntropyFixtures.GaussianTable;
        var encoder = new RansEncoder();
        encoder.Encode([1, 2], [3, 4], table);
        Assert.Throws<ArgumentException>(() => encoder.Encode([1, 2, 3], [0, 1], table));
        Assert.Throws<ArgumentException>(() => encoder.Encode([1, 2, 3], [0, 64, 1], table));
        Assert.Throws<ArgumentException>(() => encoder.Encode([1, 100000, 3], [0, 1, -1], table));
        Assert.Throws<ArgumentNullException>(() => encoder.Encode([1], [0], null!));
        Assert.Equal(RansEncoder.EncodeWithIndexes([1, 2], [3, 4], table), encoder.Flush());
    }

    [Fact]
    public void DecoderFindsTheRightBinForEveryCumulativeFrequency()
    {
        // Exhaustive over cum = state & 0xFFFF for a spread of rows (narrow, mid, widest), against a linear search:
        // covers the most-probable-bin test, the bucket table and the refinement steps.
        var rng = new Random(17);
        var tables = new[] { EntropyFixtures.GaussianTable, RandomTable(rng, 6, 700) };
        var stream = new byte[24];
        var decoded = new int[1];
        foreach (RansCdfTable table in tables)
        {
            var decoder = new RansDecoder(table);
            int[] rows = table == EntropyFixtures.GaussianTable ? [0, 1, 4, 13, 20, 33, 47, 62, 63] : Enumerable.Range(0, table.Count).ToArray();
            foreach (int row in rows)
            {
                ReadOnlySpan<int> cdf = table.Row(row);
                int maxValue = table.CdfLength(row) - 2;
                int bin = 0;
                for (uint cum = 0; cum < 65536; cum++)
                {
                    while (cdf[bin + 1] <= cum) bin++;
                    ulong state = (1UL << 40) | cum; // then refills read zero words; an escape reads a zero count
                    BitConverter.TryWriteBytes(stream.AsSpan(0, 8), state);
                    decoder.SetStream(stream);
                    decoder.DecodeStream([row], decoded);
                    int expected = bin + table.Offset(row); // escape with zero nibbles decodes to max_value + offset too
                    if (decoded[0] != expected)
                        Assert.Fail($"row {row}, cum {cum}: decoded {decoded[0]}, expected {expected} (max_value {maxValue})");
                }
            }
        }
    }

    internal static (int[] Symbols, int[] Indexes) GaussianStream(Random rng, int n)
    {
        float[] scales = GaussianConditionalTables.DefaultScaleTable();
        int[] symbols = new int[n], indexes = new int[n];
        for (int i = 0; i < n; i++)
        {
            int idx = rng.Next(64);
            indexes[i] = idx;
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            symbols[i] = (int)Math.Round(g * scales[idx] * (rng.Next(50) == 0 ? 8 : 1));
        }
        return (symbols, indexes);
    }

    internal static RansCdfTable RandomTable(Random rng, int rows, int maxBins)
    {
        var cdfs = new int[rows][];
        var offsets = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            int bins = rng.Next(1, maxBins + 1);
            var pmf = new float[bins + 1];
            double center = rng.NextDouble() * bins, width = 0.3 + rng.NextDouble() * bins / 3;
            for (int k = 0; k < bins; k++)
                pmf[k] = rng.Next(10) == 0 ? 0f : (float)Math.Exp(-Math.Pow((k - center) / width, 2));
            pmf[bins] = (float)(rng.NextDouble() * 1e-3);
            if (pmf.All(p => p * 65536 < 0.5)) pmf[0] = 1;
            cdfs[r] = QuantizedCdf.FromPmf(pmf);
            offsets[r] = rng.Next(3) switch { 0 => -bins / 2, 1 => rng.Next(-100000, 100000), _ => 0 };
        }
        int stride = cdfs.Max(c => c.Length) + rng.Next(3);
        var flat = new int[rows * stride];
        for (int r = 0; r < rows; r++) cdfs[r].CopyTo(flat, r * stride);
        return new RansCdfTable(flat, stride, cdfs.Select(c => c.Length).ToArray(), offsets);
    }
}
