using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LicBackdoor.Codec.Bitstream;

namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// rANS decoder for streams written by <see cref="RansEncoder"/> or by CompressAI's rANS encoders.
/// Use <see cref="DecodeWithIndexes"/> for a whole stream, or <see cref="SetStream"/> once followed by
/// repeated <see cref="DecodeStream"/> calls (the autoregressive models decode position by position).
/// </summary>
/// <remarks>
/// <para>Symbol search (CompressAI searches linearly): the row's most probable bin is tested first, with a
/// branch the CPU learns to predict on low-entropy data; otherwise a per-row bucket table, built lazily by
/// <see cref="RansCdfTable"/>, gives a starting bin that is at most a step or two away, so wide CDFs cost
/// about as little as narrow ones.</para>
/// <para>Hostile input is safe: every word read is bounds-checked, a bypass value longer than 64 bits
/// or outside the 32-bit range is rejected, and the work per symbol is bounded, so decoding terminates
/// with symbols or an <see cref="InvalidBitstreamException"/>. rANS has no redundancy, so some
/// corruptions decode to wrong symbols; <see cref="DecodeWithIndexes"/> additionally requires the stream
/// to be consumed exactly (all words read, final state equal to the encoder's initial state), which
/// catches most truncation and trailing garbage. The container format carries a checksum for the rest.
/// Not thread-safe; the table may be shared.</para>
/// </remarks>
public sealed class RansDecoder
{
    private const ulong RansL = RansEncoder.RansL;
    private const ulong MaxState = 1UL << 63;
    private const int MaxBypassNibbles = 16;

    private readonly RansCdfTable _table;
    private byte[]? _stream;
    private int _pos;
    private ulong _state;

    /// <summary>Creates a decoder for streams coded with <paramref name="table"/>.</summary>
    public RansDecoder(RansCdfTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        _table = table;
    }

    /// <summary>The table this decoder uses.</summary>
    public RansCdfTable Table => _table;

    /// <summary>
    /// True when a stream is set, every word of it has been read and the state is back at its initial
    /// value: exactly what follows from decoding every symbol that was encoded, and nothing more.
    /// </summary>
    public bool IsAtEnd => _stream is not null && _pos == _stream.Length && _state == RansL;

    /// <summary>Starts decoding <paramref name="stream"/> (not copied; do not modify it while decoding).</summary>
    /// <exception cref="InvalidBitstreamException">Shorter than 8 bytes, not a multiple of 4, or an impossible initial state.</exception>
    public void SetStream(byte[] stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = null;
        if (stream.Length < 8)
            throw new InvalidBitstreamException($"rANS stream of {stream.Length} bytes is shorter than the 8-byte state");
        if (stream.Length % 4 != 0)
            throw new InvalidBitstreamException($"rANS stream length {stream.Length} is not a multiple of 4");
        ulong x = BinaryPrimitives.ReadUInt32LittleEndian(stream) | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(4)) << 32);
        if (x < RansL || x >= MaxState)
            throw new InvalidBitstreamException($"rANS stream starts with an impossible state 0x{x:x16}");
        _state = x;
        _pos = 8;
        _stream = stream;
    }

    /// <summary>Decodes the next <c>indexes.Length</c> symbols of the current stream into <paramref name="symbols"/>.</summary>
    /// <exception cref="InvalidOperationException">No stream set (or the previous call failed).</exception>
    /// <exception cref="ArgumentException">Length mismatch or an index outside the table.</exception>
    /// <exception cref="InvalidBitstreamException">The stream is truncated or decodes to an unrepresentable value.</exception>
    public void DecodeStream(ReadOnlySpan<int> indexes, Span<int> symbols)
    {
        if (symbols.Length != indexes.Length)
            throw new ArgumentException($"{indexes.Length} indexes but room for {symbols.Length} symbols", nameof(symbols));
        byte[] stream = _stream ?? throw new InvalidOperationException("no stream set: call SetStream first (a failed decode also clears it)");
        _stream = null; // cleared until this call succeeds: state after a failure is meaningless
        ulong x = _state;
        int pos = _pos;
        int end = stream.Length;
        RansCdfTable table = _table;
        RansCdfTable.RowInfo[] rows = table.Rows;
        ref RansCdfTable.RowInfo rowBase = ref MemoryMarshal.GetArrayDataReference(rows);
        ref int cdf = ref MemoryMarshal.GetArrayDataReference(table.FlatCdf);
        ref ushort lut = ref MemoryMarshal.GetArrayDataReference(table.Lut);
        ref byte data = ref MemoryMarshal.GetArrayDataReference(stream);
        ref int idx = ref MemoryMarshal.GetReference(indexes);
        ref int output = ref MemoryMarshal.GetReference(symbols);
        int n = indexes.Length;

        for (int i = 0; i < n; i++)
        {
            int index = Unsafe.Add(ref idx, i);
            if ((uint)index >= (uint)rows.Length)
                throw new ArgumentException($"indexes[{i}] = {index} is outside the table (0..{rows.Length - 1})", nameof(indexes));
            ref readonly RansCdfTable.RowInfo r = ref Unsafe.Add(ref rowBase, index);
            uint cum = (uint)x & 0xFFFF;
            // Most probable bin first: a branch the CPU predicts, so on low-entropy data the next symbol can start
            // before this one's table loads complete (the same effect that makes a linear search fast there).
            if (cum - (uint)r.ModeStart < (uint)r.ModeFreq)
            {
                x = (uint)r.ModeFreq * (x >> 16) + (cum - (uint)r.ModeStart);
                if (x < RansL)
                {
                    if (pos > end - 4) throw Truncated(i);
                    x = (x << 32) | ReadWord(ref data, pos);
                    pos += 4;
                }
                Unsafe.Add(ref output, i) = r.ModeValue;
                continue;
            }
            // Bucket start, then step to the bin with cdf[s] <= cum < cdf[s+1]; cdf[max_value+1] = 2^16 > cum bounds the walk.
            int s = Unsafe.Add(ref lut, r.LutStart + (int)(cum >> r.LutShift));
            ref int row = ref Unsafe.Add(ref cdf, r.CdfStart);
            while ((uint)Unsafe.Add(ref row, s + 1) <= cum) s++;
            uint start = (uint)Unsafe.Add(ref row, s);
            uint freq = (uint)Unsafe.Add(ref row, s + 1) - start;
            x = freq * (x >> 16) + (cum - start);
            if (x < RansL)
            {
                if (pos > end - 4) throw Truncated(i);
                x = (x << 32) | ReadWord(ref data, pos);
                pos += 4;
            }
            if (s != r.MaxValue)
            {
                Unsafe.Add(ref output, i) = s + r.Offset;
            }
            else
            {
                long value = DecodeEscape(ref x, ref pos, stream, in r, i);
                if (value < int.MinValue || value > int.MaxValue)
                    throw new InvalidBitstreamException($"symbol {i}: escaped value {value} is outside the 32-bit range");
                Unsafe.Add(ref output, i) = (int)value;
            }
        }
        _state = x;
        _pos = pos;
        _stream = stream;
    }

    /// <summary>Internal wide counterpart of <see cref="RansEncoder.EncodeWide"/> (64-bit escaped values).</summary>
    internal void DecodeStreamWide(ReadOnlySpan<int> indexes, Span<long> symbols)
    {
        byte[] stream = _stream ?? throw new InvalidOperationException("no stream set");
        _stream = null;
        RansCdfTable.RowInfo[] rows = _table.Rows;
        int[] cdf = _table.FlatCdf;
        ushort[] lut = _table.Lut;
        ulong x = _state;
        int pos = _pos;
        for (int i = 0; i < indexes.Length; i++)
        {
            int index = indexes[i];
            if ((uint)index >= (uint)rows.Length)
                throw new ArgumentException($"indexes[{i}] = {index} is outside the table", nameof(indexes));
            ref readonly RansCdfTable.RowInfo r = ref rows[index];
            uint cum = (uint)x & 0xFFFF;
            int s = lut[r.LutStart + (int)(cum >> r.LutShift)];
            while ((uint)cdf[r.CdfStart + s + 1] <= cum) s++;
            uint start = (uint)cdf[r.CdfStart + s];
            uint freq = (uint)cdf[r.CdfStart + s + 1] - start;
            x = freq * (x >> 16) + (cum - start);
            if (x < RansL)
            {
                if (pos > stream.Length - 4) throw Truncated(i);
                x = (x << 32) | BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(pos));
                pos += 4;
            }
            symbols[i] = s != r.MaxValue ? s + r.Offset : DecodeEscape(ref x, ref pos, stream, in r, i);
        }
        _state = x;
        _pos = pos;
        _stream = stream;
    }

    /// <summary>Reads the bypass-coded value after an escape bin (spec §5); returns the symbol (value + offset).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long DecodeEscape(ref ulong x, ref int pos, byte[] stream, in RansCdfTable.RowInfo r, int position)
    {
        uint val = GetNibble(ref x, ref pos, stream, position);
        int nibbles = (int)val;
        while (val == RansEncoder.MaxBypassRun)
        {
            val = GetNibble(ref x, ref pos, stream, position);
            nibbles += (int)val;
            if (nibbles > MaxBypassNibbles)
                throw new InvalidBitstreamException($"symbol {position}: bypass length of more than {MaxBypassNibbles} nibbles");
        }
        if (nibbles > MaxBypassNibbles)
            throw new InvalidBitstreamException($"symbol {position}: bypass length of more than {MaxBypassNibbles} nibbles");
        ulong raw = 0;
        for (int j = 0; j < nibbles; j++)
            raw |= (ulong)GetNibble(ref x, ref pos, stream, position) << (j * RansEncoder.BypassBits);

        long v;
        ulong magnitude = raw >> 1;
        if ((raw & 1) != 0)
        {
            v = -(long)magnitude - 1; // magnitude < 2^63
        }
        else
        {
            if (magnitude > (ulong)(long.MaxValue - r.MaxValue))
                throw new InvalidBitstreamException($"symbol {position}: escaped value overflows 64 bits");
            v = (long)magnitude + r.MaxValue;
        }
        if ((v > 0 && r.Offset > long.MaxValue - v) || (v < 0 && r.Offset < long.MinValue - v))
            throw new InvalidBitstreamException($"symbol {position}: escaped value overflows 64 bits");
        return v + r.Offset;
    }

    /// <summary>Rans64DecGetBits(4) with a bounds-checked renormalisation.</summary>
    private static uint GetNibble(ref ulong x, ref int pos, byte[] stream, int position)
    {
        uint val = (uint)x & 0xF;
        x >>= RansEncoder.BypassBits;
        if (x < RansL)
        {
            if (pos > stream.Length - 4) throw Truncated(position);
            x = (x << 32) | BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(pos));
            pos += 4;
        }
        return val;
    }

    /// <summary>
    /// Decodes a whole stream (CompressAI's <c>RansDecoder.decode_with_indexes</c>) and checks that it was
    /// consumed exactly: every word read and the final state equal to the encoder's initial state.
    /// </summary>
    /// <exception cref="InvalidBitstreamException">Malformed, truncated, or with data left over.</exception>
    /// <exception cref="ArgumentException">An index outside the table.</exception>
    public static int[] DecodeWithIndexes(byte[] stream, ReadOnlySpan<int> indexes, RansCdfTable table)
    {
        var decoder = new RansDecoder(table);
        decoder.SetStream(stream);
        int[] symbols = new int[indexes.Length];
        decoder.DecodeStream(indexes, symbols);
        if (!decoder.IsAtEnd)
        {
            throw new InvalidBitstreamException(decoder._pos != stream.Length
                ? $"rANS stream has {stream.Length - decoder._pos} bytes left after {indexes.Length} symbols"
                : $"rANS stream ends in state 0x{decoder._state:x16} instead of the initial state (corrupt stream or wrong indexes)");
        }
        return symbols;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ReadWord(ref byte data, int pos)
    {
        uint w = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref data, pos));
        return BitConverter.IsLittleEndian ? w : BinaryPrimitives.ReverseEndianness(w);
    }

    private static InvalidBitstreamException Truncated(int position) =>
        new($"rANS stream is truncated (ran out of data at symbol {position})");
}
