using System.Diagnostics;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Entropy;

namespace LicBackdoor.Tests.Codec.Entropy;

/// <summary>Malformed streams and tables: the coder must throw or terminate, quickly and in bounds.</summary>
public sealed class RansHostileInputTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData("")]
    [InlineData("00")]
    [InlineData("00000080")]
    [InlineData("00000080000000")]
    [InlineData("000000800000000000")]        // 9 bytes: not a multiple of 4
    [InlineData("0000000000000000")]          // state 0 < 2^31
    [InlineData("ffffff7f00000000")]          // state 2^31 - 1
    [InlineData("0000000000000080")]          // state 2^63
    [InlineData("ffffffffffffffff")]
    public void RejectsImpossibleStreamHeaders(string hex)
    {
        byte[] bytes = Convert.FromHexString(hex);
        Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(bytes, [0], EntropyFixtures.GaussianTable));
        Assert.Throws<InvalidBitstreamException>(() => new RansDecoder(EntropyFixtures.GaussianTable).SetStream(bytes));
    }

    [Fact]
    public void DecodeStreamWithoutSetStreamThrows()
    {
        var decoder = new RansDecoder(EntropyFixtures.GaussianTable);
        Assert.Throws<InvalidOperationException>(() => decoder.DecodeStream([0], new int[1]));
        Assert.False(decoder.IsAtEnd);
    }

    [Fact]
    public void RejectsBadIndexesAndLengthMismatch()
    {
        var table = EntropyFixtures.GaussianTable;
        byte[] bytes = RansEncoder.EncodeWithIndexes([0, 1, 2], [0, 1, 2], table);
        Assert.Throws<ArgumentException>(() => RansDecoder.DecodeWithIndexes(bytes, [0, 64, 2], table));
        Assert.Throws<ArgumentException>(() => RansDecoder.DecodeWithIndexes(bytes, [0, -1, 2], table));
        Assert.Throws<ArgumentException>(() => RansDecoder.DecodeWithIndexes(bytes, [int.MinValue, 1, 2], table));
        var decoder = new RansDecoder(table);
        decoder.SetStream(bytes);
        Assert.Throws<ArgumentException>(() => decoder.DecodeStream([0, 1], new int[3]));
        // A failed call leaves no half-decoded state behind.
        decoder.SetStream(bytes);
        Assert.Throws<ArgumentException>(() => decoder.DecodeStream([0, 99], new int[2]));
        Assert.Throws<InvalidOperationException>(() => decoder.DecodeStream([2], new int[1]));
    }

    [Fact]
    public void WrongSymbolCountIsDetected()
    {
        var table = EntropyFixtures.GaussianTable;
        (int[] symbols, int[] indexes) = RansCoderTests.GaussianStream(new Random(5), 300);
        byte[] bytes = RansEncoder.EncodeWithIndexes(symbols, indexes, table);
        Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(bytes, indexes.AsSpan(0, 250), table));
        byte[] padded = [.. bytes, 1, 2, 3, 4];
        Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(padded, indexes, table));
    }

    [Fact]
    public void TruncatedStreamsThrow()
    {
        var table = EntropyFixtures.GaussianTable;
        (int[] symbols, int[] indexes) = RansCoderTests.GaussianStream(new Random(6), 3000);
        byte[] bytes = RansEncoder.EncodeWithIndexes(symbols, indexes, table);
        var watch = Stopwatch.StartNew();
        for (int keep = 8; keep < bytes.Length; keep += 4)
        {
            byte[] cut = bytes[..keep];
            Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(cut, indexes, table));
        }
        Assert.True(watch.Elapsed < Bound);
    }

    [Fact]
    public void RandomGarbageTerminates()
    {
        var rng = new Random(99);
        var table = EntropyFixtures.GaussianTable;
        var watch = Stopwatch.StartNew();
        int threw = 0, decodedAll = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            byte[] junk = new byte[4 * rng.Next(2, 200)];
            rng.NextBytes(junk);
            junk[7] &= 0x7F; // a plausible initial state most of the time
            junk[4] |= 1;
            int n = rng.Next(0, 5000);
            int[] indexes = Enumerable.Range(0, n).Select(_ => rng.Next(64)).ToArray();
            var decoder = new RansDecoder(table);
            var output = new int[n];
            try
            {
                decoder.SetStream(junk);
                decoder.DecodeStream(indexes, output);
                decodedAll++;
            }
            catch (InvalidBitstreamException)
            {
                threw++;
            }
        }
        Assert.True(watch.Elapsed < Bound, $"took {watch.Elapsed}");
        Assert.True(threw > 0);
        Assert.Equal(400, threw + decodedAll);
    }

    [Fact]
    public void CorruptedStreamsTerminate()
    {
        var rng = new Random(8);
        var table = EntropyFixtures.GaussianTable;
        (int[] symbols, int[] indexes) = RansCoderTests.GaussianStream(rng, 2000);
        byte[] bytes = RansEncoder.EncodeWithIndexes(symbols, indexes, table);
        var watch = Stopwatch.StartNew();
        int detected = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            byte[] bad = (byte[])bytes.Clone();
            bad[rng.Next(8, bad.Length)] ^= (byte)(1 << rng.Next(8));
            try
            {
                int[] decoded = RansDecoder.DecodeWithIndexes(bad, indexes, table);
                Assert.Equal(symbols.Length, decoded.Length);
            }
            catch (InvalidBitstreamException)
            {
                detected++;
            }
        }
        Assert.True(watch.Elapsed < Bound);
        Assert.True(detected > 150, $"only {detected} of 200 bit flips detected");
    }

    [Fact]
    public void AbsurdBypassCountIsRejected()
    {
        var table = EntropyFixtures.GaussianTable; // row 0: cdf [0, 1, 65534, 65535, 65536], escape bin 3 = [65535, 65536)
        // Escape symbol followed by a bypass count of 15, 15, 15, ... (a run far beyond 64 bits).
        var builder = new StreamBuilder();
        builder.Symbol(65535, 1);
        for (int i = 0; i < 10_000; i++) builder.Nibble(15);
        byte[] bytes = builder.Finish();
        var watch = Stopwatch.StartNew();
        var ex = Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(bytes, [0], table));
        Assert.Contains("bypass", ex.Message);
        Assert.True(watch.Elapsed < Bound, $"took {watch.Elapsed}");

        // 17 nibbles: one more than 64 bits.
        builder = new StreamBuilder();
        builder.Symbol(65535, 1);
        builder.Nibble(15);
        builder.Nibble(2);
        for (int i = 0; i < 17; i++) builder.Nibble(1);
        bytes = builder.Finish();
        Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(bytes, [0], table));

        // 9 nibbles of 0xF: fits 64 bits but not 32: rejected, not wrapped.
        builder = new StreamBuilder();
        builder.Symbol(65535, 1);
        builder.Nibble(9);
        for (int i = 0; i < 9; i++) builder.Nibble(15);
        bytes = builder.Finish();
        Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(bytes, [0], table));

        // Escape with a bypass run cut short by the end of the stream.
        builder = new StreamBuilder();
        builder.Symbol(65535, 1);
        builder.Nibble(8);
        byte[] cut = builder.Finish();
        Assert.Throws<InvalidBitstreamException>(() => RansDecoder.DecodeWithIndexes(cut, [0], table));
    }

    [Fact]
    public void HandBuiltStreamMatchesEncoder()
    {
        // Sanity check of the test's stream builder against the real encoder: symbol 3 in row 0 (offset -1, max_value 3)
        // is escaped with raw = 2 * (4 - 3) = 2: one nibble.
        var builder = new StreamBuilder();
        builder.Symbol(65535, 1);
        builder.Nibble(1);
        builder.Nibble(2);
        Assert.Equal(RansEncoder.EncodeWithIndexes([3], [0], EntropyFixtures.GaussianTable), builder.Finish());
    }

    public static TheoryData<string> HostileTables() => new(Enum.GetNames<BadTable>());

    public enum BadTable
    {
        RowNotStartingAtZero, LastNotOne, Decreasing, ZeroFrequencyBin, ZeroFrequencyEscape, LengthTooShort,
        LengthBeyondStride, ValueAboveOne, NegativeValue, SizeMismatch, OffsetsMismatch, NoRows, StrideTooSmall,
        StrideTooLarge, OffsetOverflow, NegativeLength,
    }

    [Theory]
    [MemberData(nameof(HostileTables))]
    public void RejectsHostileTables(string kind)
    {
        int[] cdf = [0, 100, 65000, 65536, 0, /* row 1 */ 0, 1, 2, 65536, 0];
        int stride = 5;
        int[] lengths = [4, 4];
        int[] offsets = [-1, 0];
        switch (Enum.Parse<BadTable>(kind))
        {
            case BadTable.RowNotStartingAtZero: cdf[5] = 1; break;
            case BadTable.LastNotOne: cdf[3] = 65535; break;
            case BadTable.Decreasing: cdf[2] = 50; break;
            case BadTable.ZeroFrequencyBin: cdf[2] = 100; break;
            case BadTable.ZeroFrequencyEscape: cdf[7] = 65536; lengths[1] = 4; cdf[8] = 65536; break;
            case BadTable.LengthTooShort: lengths[0] = 2; break;
            case BadTable.LengthBeyondStride: lengths[1] = 6; break;
            case BadTable.ValueAboveOne: cdf[2] = 70000; break;
            case BadTable.NegativeValue: cdf[6] = -5; break;
            case BadTable.SizeMismatch: cdf = cdf[..9]; break;
            case BadTable.OffsetsMismatch: offsets = [0]; break;
            case BadTable.NoRows: cdf = []; lengths = []; offsets = []; break;
            case BadTable.StrideTooSmall: stride = 2; cdf = new int[4]; break;
            case BadTable.StrideTooLarge: stride = 70000; cdf = new int[140000]; break;
            case BadTable.OffsetOverflow: offsets[1] = int.MaxValue - 1; break;
            case BadTable.NegativeLength: lengths[0] = -1; break;
        }
        Assert.ThrowsAny<ArgumentException>(() => new RansCdfTable(cdf, stride, lengths, offsets));
    }

    [Fact]
    public void ValidSmallTableIsAcceptedAndCopied()
    {
        int[] cdf = [0, 100, 65000, 65536, 0, 0, 1, 2, 65536, 7];
        var table = new RansCdfTable(cdf, 5, [4, 4], [-1, 0]);
        cdf[1] = 0; // mutating the caller's array does not reach the table
        Assert.Equal(100, table.Row(0)[1]);
        Assert.Equal(5, table.Row(1).Length);
        Assert.Equal(2, table.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Row(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Offset(-1));
        int[] symbols = [-1, 0, 1, 2, -2, 1000, 0, 1, 2, -7];
        int[] indexes = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        Assert.Equal(symbols, RansDecoder.DecodeWithIndexes(RansEncoder.EncodeWithIndexes(symbols, indexes, table), indexes, table));
        Assert.Throws<ArgumentNullException>(() => new RansCdfTable(null!, 5, [4], [0]));
    }

    [Fact]
    public void ExceptionCarriesFileName()
    {
        var ex = new InvalidBitstreamException("bad stream", "image.licb");
        Assert.Equal("image.licb", ex.FileName);
        Assert.Contains("image.licb", ex.Message);
        Assert.Null(new InvalidBitstreamException("x").FileName);
    }

    /// <summary>Independent minimal rANS writer (spec §5 arithmetic) for hand-made, possibly hostile streams.</summary>
    private sealed class StreamBuilder
    {
        private readonly List<(uint Start, uint Freq, bool Bypass)> _ops = [];

        public void Symbol(uint start, uint freq) => _ops.Add((start, freq, false));

        public void Nibble(uint value) => _ops.Add((value, 0, true));

        public byte[] Finish()
        {
            var words = new List<uint>();
            ulong x = 1UL << 31;
            for (int i = _ops.Count - 1; i >= 0; i--)
            {
                var (start, freq, bypass) = _ops[i];
                if (bypass)
                {
                    if (x >= 1UL << 59) { words.Add((uint)x); x >>= 32; }
                    x = (x << 4) | start;
                }
                else
                {
                    if (x >= ((1UL << 15) << 32) * freq) { words.Add((uint)x); x >>= 32; }
                    x = ((x / freq) << 16) + (x % freq) + start;
                }
            }
            words.Add((uint)(x >> 32));
            words.Add((uint)x);
            words.Reverse();
            return words.SelectMany(BitConverter.GetBytes).ToArray();
        }
    }
}
