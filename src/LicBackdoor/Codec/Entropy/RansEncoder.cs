using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// Buffered rANS encoder, byte-compatible with CompressAI's <c>BufferedRansEncoder</c> / <c>RansEncoder</c>
/// (ryg_rans 64-bit state, 32-bit renormalisation, 16-bit probabilities, 4-bit bypass coding of values
/// outside a CDF's range). <see cref="Encode"/> appends symbols; <see cref="Flush"/> writes them all as
/// one stream and resets the encoder for reuse.
/// </summary>
/// <remarks>
/// <para>Stream layout: little-endian uint32 words <c>[state_lo, state_hi, renormalisation words...]</c>;
/// the length is a multiple of 4 and at least 8 bytes. No header, no symbol count.</para>
/// <para>Differences from CompressAI, all where CompressAI fails: encoding nothing gives the 8-byte
/// stream of the initial state (CompressAI overruns its buffer), and every 32-bit value is coded exactly,
/// including values more than 2^27 outside the table (where CompressAI's 32-bit escape arithmetic hangs
/// or overflows). Each buffered entry takes 4 bytes; the buffer grows as needed and is reused across
/// flushes. Not thread-safe.</para>
/// </remarks>
public sealed class RansEncoder
{
    internal const ulong RansL = 1UL << 31;          // RANS64_L
    internal const int BypassBits = 4;               // bypass_precision
    internal const int MaxBypassRun = (1 << BypassBits) - 1; // max_bypass_val = 15
    private const ulong BypassRenormLimit = (RansL >> BypassBits) << 32; // 2^59

    // Entry encoding: normal symbol = start | freq << 16 with 1 <= freq <= 65535;
    // bypass nibble = nibble (freq field 0).
    private uint[] _entries;
    private int _count;

    /// <summary>Creates an empty encoder.</summary>
    public RansEncoder() : this(0) { }

    /// <summary>Creates an empty encoder with room for <paramref name="capacity"/> buffered symbols.</summary>
    public RansEncoder(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _entries = capacity == 0 ? [] : new uint[capacity + 2];
    }

    /// <summary>Number of buffered entries (symbols plus bypass nibbles) awaiting <see cref="Flush"/>.</summary>
    public int BufferedEntries => _count;

    /// <summary>Appends <paramref name="symbols"/>, symbol <c>i</c> coded with CDF row <c>indexes[i]</c> of <paramref name="table"/>.</summary>
    /// <exception cref="ArgumentException">Length mismatch or an index outside the table; nothing is appended then.</exception>
    public void Encode(ReadOnlySpan<int> symbols, ReadOnlySpan<int> indexes, RansCdfTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (symbols.Length != indexes.Length)
            throw new ArgumentException($"{symbols.Length} symbols but {indexes.Length} indexes", nameof(indexes));
        int n = symbols.Length;
        if (n == 0) return;
        EnsureCapacity(n);

        int start = _count;
        int count = _count;
        uint[] entries = _entries;
        RansCdfTable.RowInfo[] rows = table.Rows;
        ref int cdf = ref MemoryMarshal.GetArrayDataReference(table.FlatCdf);
        ref int sym = ref MemoryMarshal.GetReference(symbols);
        ref int idx = ref MemoryMarshal.GetReference(indexes);
        for (int i = 0; i < n; i++)
        {
            int index = Unsafe.Add(ref idx, i);
            if ((uint)index >= (uint)rows.Length)
            {
                _count = start;
                throw BadIndex(i, index, rows.Length);
            }
            ref readonly RansCdfTable.RowInfo r = ref rows[index];
            long v = (long)Unsafe.Add(ref sym, i) - r.Offset;
            if ((ulong)v < (ulong)r.MaxValue)
            {
                // 0 <= v < max_value <= 65534, inside the row (validated table).
                ref int c = ref Unsafe.Add(ref cdf, r.CdfStart + (int)v);
                uint lo = (uint)c;
                uint hi = (uint)Unsafe.Add(ref c, 1);
                // Capacity for one entry per symbol was reserved above.
                Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(entries), count++) = lo | ((hi - lo) << 16);
            }
            else
            {
                _count = count;
                PushEscape(v, in r, ref cdf, n - i - 1);
                entries = _entries;
                count = _count;
            }
        }
        _count = count;
    }

    /// <summary>
    /// Wide variant for testing the escape path beyond 32 bits: 64-bit values (|symbol| &lt; 2^62),
    /// which exercise bypass-count runs (16 nibbles). The decoder counterpart is internal as well.
    /// </summary>
    internal void EncodeWide(ReadOnlySpan<long> symbols, ReadOnlySpan<int> indexes, RansCdfTable table)
    {
        if (symbols.Length != indexes.Length)
            throw new ArgumentException($"{symbols.Length} symbols but {indexes.Length} indexes", nameof(indexes));
        int start = _count;
        RansCdfTable.RowInfo[] rows = table.Rows;
        ref int cdf = ref MemoryMarshal.GetArrayDataReference(table.FlatCdf);
        for (int i = 0; i < symbols.Length; i++)
        {
            int index = indexes[i];
            if ((uint)index >= (uint)rows.Length)
            {
                _count = start;
                throw BadIndex(i, index, rows.Length);
            }
            if (Math.Abs(symbols[i]) >= 1L << 62)
            {
                _count = start;
                throw new ArgumentOutOfRangeException(nameof(symbols), symbols[i], "wide symbols must satisfy |s| < 2^62");
            }
            ref readonly RansCdfTable.RowInfo r = ref rows[index];
            long v = symbols[i] - r.Offset;
            EnsureCapacity(1);
            if ((ulong)v < (ulong)r.MaxValue)
            {
                uint lo = (uint)Unsafe.Add(ref cdf, r.CdfStart + (int)v);
                uint hi = (uint)Unsafe.Add(ref cdf, r.CdfStart + (int)v + 1);
                _entries[_count++] = lo | ((hi - lo) << 16);
            }
            else
            {
                PushEscape(v, in r, ref cdf, 0);
            }
        }
    }

    /// <summary>
    /// Codes the escape bin and then the value in bypass mode (spec §5): the nibble count as a run of 15s
    /// plus remainder, then the nibbles of <c>raw</c>, least significant first.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PushEscape(long v, in RansCdfTable.RowInfo r, ref int cdf, int stillReserved)
    {
        ulong raw;
        if (v < 0)
            raw = 2 * (ulong)(-(v + 1)) + 1;        // -2v - 1, no overflow for any long v
        else
            raw = 2 * (ulong)(v - r.MaxValue);       // v >= max_value here
        int nibbles = 0;
        while (nibbles < 16 && (raw >> (nibbles * BypassBits)) != 0) nibbles++;

        // Worst case: escape symbol + 2 count nibbles + 16 value nibbles, on top of the entries still reserved.
        EnsureCapacity(stillReserved + 1 + 2 + 16);
        uint[] e = _entries;
        int count = _count;
        ref int c = ref Unsafe.Add(ref cdf, r.CdfStart + r.MaxValue);
        uint lo = (uint)c;
        uint hi = (uint)Unsafe.Add(ref c, 1);
        e[count++] = lo | ((hi - lo) << 16);
        int rest = nibbles;
        while (rest >= MaxBypassRun)
        {
            e[count++] = MaxBypassRun;
            rest -= MaxBypassRun;
        }
        e[count++] = (uint)rest;
        for (int j = 0; j < nibbles; j++)
            e[count++] = (uint)(raw >> (j * BypassBits)) & 0xF;
        _count = count;
    }

    /// <summary>
    /// Writes every buffered symbol as one stream (rANS is LIFO: the entries are coded last to first so the
    /// decoder yields them in order) and empties the buffer, keeping its storage for the next stream.
    /// </summary>
    public byte[] Flush()
    {
        int count = _count;
        EnsureCapacity(0); // room for the two state words
        uint[] buf = _entries;
        // Words are written backwards from buf[count + 2) while entries are read backwards from buf[count);
        // after k entries at most k words were written, so the write position stays above the read position.
        int w = count + 2;
        ulong x = RansL;
        ref uint b = ref MemoryMarshal.GetArrayDataReference(buf);
        for (int i = count - 1; i >= 0; i--)
        {
            uint e = Unsafe.Add(ref b, i);
            uint freq = e >> 16;
            if (freq != 0)
            {
                // Rans64EncPut(start, freq, 16): renormalise if x >= ((L >> 16) << 32) * freq.
                if (x >= (ulong)freq << 47)
                {
                    Unsafe.Add(ref b, --w) = (uint)x;
                    x >>= 32;
                }
                ulong q = x / freq;
                x = (q << 16) + (x - q * freq) + (e & 0xFFFF);
            }
            else
            {
                // Rans64EncPutBits(nibble, 4).
                if (x >= BypassRenormLimit)
                {
                    Unsafe.Add(ref b, --w) = (uint)x;
                    x >>= 32;
                }
                x = (x << BypassBits) | e;
            }
        }
        Unsafe.Add(ref b, --w) = (uint)(x >> 32);
        Unsafe.Add(ref b, --w) = (uint)x;

        ReadOnlySpan<uint> words = buf.AsSpan(w, count + 2 - w);
        byte[] result = new byte[words.Length * 4];
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(words).CopyTo(result);
        }
        else
        {
            for (int k = 0; k < words.Length; k++)
                BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(4 * k), words[k]);
        }
        _count = 0;
        return result;
    }

    /// <summary>Encodes <paramref name="symbols"/> into one stream (CompressAI's <c>RansEncoder.encode_with_indexes</c>).</summary>
    public static byte[] EncodeWithIndexes(ReadOnlySpan<int> symbols, ReadOnlySpan<int> indexes, RansCdfTable table)
    {
        var encoder = new RansEncoder(symbols.Length);
        encoder.Encode(symbols, indexes, table);
        return encoder.Flush();
    }

    /// <summary>Makes room for <paramref name="extra"/> more entries plus the two final state words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureCapacity(int extra)
    {
        long needed = (long)_count + extra + 2;
        if (needed > _entries.Length) Grow(needed);
    }

    private void Grow(long needed)
    {
        if (needed > Array.MaxLength)
            throw new InvalidOperationException("too many buffered symbols for one rANS stream");
        long size = Math.Max(needed, Math.Min((long)_entries.Length * 2, Array.MaxLength));
        size = Math.Max(size, 64);
        Array.Resize(ref _entries, (int)size);
    }

    private static ArgumentException BadIndex(int position, int index, int count) =>
        new($"indexes[{position}] = {index} is outside the table (0..{count - 1})", "indexes");
}
