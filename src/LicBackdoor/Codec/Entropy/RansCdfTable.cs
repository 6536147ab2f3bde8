using System.Numerics;
using System.Runtime.InteropServices;

namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// A set of quantized CDFs for the rANS coder, in CompressAI's entropy-model layout: a row-major
/// <c>[Count, Stride]</c> table (<c>_quantized_cdf</c>) with a per-row CDF length (<c>_cdf_length</c>)
/// and offset (<c>_offset</c>). Row <c>i</c> codes the values <c>Offset(i) .. Offset(i) + CdfLength(i) - 3</c>
/// directly; its last bin (<c>max_value = CdfLength(i) - 2</c>) is the escape bin for every other value,
/// which is then sent in 4-bit bypass chunks.
/// </summary>
/// <remarks>
/// The constructor copies and validates its inputs, so a table, once built, can never make the coder
/// read out of range, loop forever or produce a stream that does not decode: each row starts at 0, ends
/// at 2^16 at index <c>CdfLength - 1</c>, and is strictly increasing up to there (every bin, escape bin
/// included, has a non-zero frequency), with <c>3 &lt;= CdfLength &lt;= Stride</c>. Entries past
/// <c>CdfLength</c> are padding and are ignored. Instances are immutable and thread-safe.
/// </remarks>
public sealed class RansCdfTable
{
    /// <summary>Fixed probability precision of the coder, as in CompressAI (16 bits).</summary>
    public const int Precision = 16;

    /// <summary>Largest <see cref="Stride"/> accepted: a strictly increasing row from 0 to 2^16 has at most 2^16 + 1 entries.</summary>
    public const int MaxStride = (1 << Precision) + 1;

    // Decoder lookup resolution per row: about 4 buckets per bin, at least 256 and at most 4096 buckets
    // (0.5 to 8 KB a row). Tuned with bench/LicBackdoor.Bench (docs/BENCHMARKS.md).
    private const int MinLutBits = 8;
    private const int MaxLutBits = 12;
    private const int LutBitsPerBin = 2;

    private readonly int[] _cdf;
    private readonly int[] _lengths;
    private readonly int[] _offsets;
    private readonly RowInfo[] _rows;
    private ushort[]? _lut;

    /// <summary>Per-row data the coder's inner loops need, packed together.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    internal struct RowInfo
    {
        /// <summary>Index of the row's first CDF entry in the flat table.</summary>
        public int CdfStart;
        /// <summary>The escape bin, <c>CdfLength - 2</c>.</summary>
        public int MaxValue;
        /// <summary>The value coded by bin 0.</summary>
        public int Offset;
        /// <summary>Index of the row's first entry in the decoder lookup table.</summary>
        public int LutStart;
        /// <summary><c>16 - log2(lookup buckets)</c> for this row.</summary>
        public int LutShift;
        /// <summary>CDF start of the most probable non-escape bin (the decoder tests it first).</summary>
        public int ModeStart;
        /// <summary>Frequency of that bin.</summary>
        public int ModeFreq;
        /// <summary>The symbol that bin decodes to (bin + offset).</summary>
        public int ModeValue;
    }

    /// <summary>Validates and copies a table.</summary>
    /// <param name="quantizedCdf">Row-major CDFs, <c>Count * stride</c> entries.</param>
    /// <param name="stride">Row width (CompressAI: max cdf length).</param>
    /// <param name="cdfLengths">Valid entries per row; the row count is its length.</param>
    /// <param name="offsets">Per-row value of bin 0.</param>
    /// <exception cref="ArgumentException">Any inconsistency; the message names the row and entry.</exception>
    public RansCdfTable(int[] quantizedCdf, int stride, int[] cdfLengths, int[] offsets)
    {
        ArgumentNullException.ThrowIfNull(quantizedCdf);
        ArgumentNullException.ThrowIfNull(cdfLengths);
        ArgumentNullException.ThrowIfNull(offsets);
        if (stride < 3 || stride > MaxStride)
            throw new ArgumentOutOfRangeException(nameof(stride), stride, $"stride must be in 3..{MaxStride}");
        int count = cdfLengths.Length;
        if (count == 0)
            throw new ArgumentException("the table has no rows", nameof(cdfLengths));
        if (offsets.Length != count)
            throw new ArgumentException($"offsets has {offsets.Length} entries but cdfLengths has {count}", nameof(offsets));
        if ((long)count * stride != quantizedCdf.Length)
            throw new ArgumentException($"quantizedCdf has {quantizedCdf.Length} entries, expected {count} x {stride} = {(long)count * stride}", nameof(quantizedCdf));

        _cdf = (int[])quantizedCdf.Clone();
        _lengths = (int[])cdfLengths.Clone();
        _offsets = (int[])offsets.Clone();
        _rows = new RowInfo[count];
        Count = count;
        Stride = stride;

        const int one = 1 << Precision;
        int lutTotal = 0;
        for (int i = 0; i < count; i++)
        {
            int len = _lengths[i];
            if (len < 3 || len > stride)
                throw new ArgumentException($"row {i}: cdf length {len} must be in 3..{stride} (stride)", nameof(cdfLengths));
            int maxValue = len - 2;
            int offset = _offsets[i];
            if ((long)offset + maxValue > int.MaxValue)
                throw new ArgumentException($"row {i}: offset {offset} + {maxValue} overflows a 32-bit symbol", nameof(offsets));
            ReadOnlySpan<int> row = _cdf.AsSpan(i * stride, len);
            if (row[0] != 0)
                throw new ArgumentException($"row {i}: cdf[0] = {row[0]}, must be 0", nameof(quantizedCdf));
            if (row[len - 1] != one)
                throw new ArgumentException($"row {i}: cdf[{len - 1}] = {row[len - 1]}, must be {one}", nameof(quantizedCdf));
            for (int k = 0; k < len - 1; k++)
            {
                if (row[k + 1] <= row[k])
                    throw new ArgumentException($"row {i}: bin {k} has frequency {(long)row[k + 1] - row[k]} (cdf[{k}] = {row[k]}, cdf[{k + 1}] = {row[k + 1]}); every bin up to the escape bin needs a positive frequency", nameof(quantizedCdf));
            }
            int bins = len - 1; // >= 2
            int lutBits = Math.Clamp(BitOperations.Log2((uint)bins - 1) + 1 + LutBitsPerBin, MinLutBits, MaxLutBits);
            int mode = 0;
            for (int k = 1; k < maxValue; k++)
                if (row[k + 1] - row[k] > row[mode + 1] - row[mode]) mode = k;
            _rows[i] = new RowInfo
            {
                ModeStart = row[mode],
                ModeFreq = row[mode + 1] - row[mode],
                ModeValue = mode + offset,
                CdfStart = i * stride,
                MaxValue = maxValue,
                Offset = offset,
                LutStart = lutTotal,
                LutShift = Precision - lutBits,
            };
            lutTotal += 1 << lutBits;
        }
        LutLength = lutTotal;
    }

    /// <summary>Number of rows (CDFs).</summary>
    public int Count { get; }

    /// <summary>Width of a row in the underlying table.</summary>
    public int Stride { get; }

    /// <summary>Row <paramref name="index"/>: <see cref="Stride"/> entries, of which the first <see cref="CdfLength"/> are meaningful.</summary>
    public ReadOnlySpan<int> Row(int index)
    {
        CheckIndex(index);
        return new ReadOnlySpan<int>(_cdf, index * Stride, Stride);
    }

    /// <summary>Number of valid CDF entries of row <paramref name="index"/> (pmf length + 2).</summary>
    public int CdfLength(int index)
    {
        CheckIndex(index);
        return _lengths[index];
    }

    /// <summary>The value coded by bin 0 of row <paramref name="index"/>.</summary>
    public int Offset(int index)
    {
        CheckIndex(index);
        return _offsets[index];
    }

    internal int[] FlatCdf => _cdf;

    internal RowInfo[] Rows => _rows;

    internal int LutLength { get; }

    /// <summary>
    /// Decoder lookup table, built on first use: for every row and every bucket of <c>2^LutShift</c>
    /// cumulative-frequency values, the bin containing the bucket's first value. The decoder starts there
    /// and steps forward (with about four buckets per bin, rarely more than one step) to the bin containing
    /// the actual value.
    /// </summary>
    internal ushort[] Lut => Volatile.Read(ref _lut) ?? BuildLut();

    private ushort[] BuildLut()
    {
        var lut = new ushort[LutLength];
        foreach (ref readonly RowInfo r in _rows.AsSpan())
        {
            ReadOnlySpan<int> row = _cdf.AsSpan(r.CdfStart, r.MaxValue + 2);
            int buckets = (1 << Precision) >> r.LutShift;
            int s = 0;
            for (int b = 0; b < buckets; b++)
            {
                int c = b << r.LutShift;
                while (row[s + 1] <= c) s++;
                lut[r.LutStart + b] = (ushort)s;
            }
        }
        return Interlocked.CompareExchange(ref _lut, lut, null) ?? lut;
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"row index must be in 0..{Count - 1}");
    }
}
