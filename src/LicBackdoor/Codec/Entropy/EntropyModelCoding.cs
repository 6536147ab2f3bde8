using static TorchSharp.torch;

namespace LicBackdoor.Codec.Entropy;

public abstract partial class EntropyModel
{
    private RansCdfTable? coderTable;

    protected internal partial void InvalidateCoderTable() => coderTable = null;

    /// <summary>Drops caches derived from the buffers (after they were overwritten by a checkpoint load).</summary>
    public void ReloadTables() => InvalidateCoderTable();

    /// <summary>
    /// The rANS table built from the CDF buffers (cached until they change). Throws when the tables were
    /// never built ("run Update() first") or are inconsistent (a hostile or damaged checkpoint).
    /// </summary>
    public RansCdfTable CoderTable()
    {
        if (coderTable is not null) return coderTable;
        if (!HasTables) throw new InvalidOperationException($"{ModelLabel()}: uninitialized CDFs. Run Update() first.");
        if (_quantized_cdf.dim() != 2 || _offset.dim() != 1 || _cdf_length.dim() != 1)
            throw new InvalidOperationException($"{ModelLabel()}: CDF buffers have wrong ranks");
        int count = (int)_quantized_cdf.shape[0], stride = (int)_quantized_cdf.shape[1];
        var cdf = _quantized_cdf.to_type(ScalarType.Int32).contiguous().data<int>().ToArray();
        var lengths = _cdf_length.to_type(ScalarType.Int32).contiguous().data<int>().ToArray();
        var offsets = _offset.to_type(ScalarType.Int32).contiguous().data<int>().ToArray();
        if (lengths.Length != count || offsets.Length != count)
            throw new InvalidOperationException($"{ModelLabel()}: CDF buffers disagree in size ({count} CDFs, {lengths.Length} lengths, {offsets.Length} offsets)");
        coderTable = new RansCdfTable(cdf, stride, lengths, offsets);
        return coderTable;
    }

    private string ModelLabel() => GetType().Name;

    /// <summary>Converts float symbols (already rounded) to int32, refusing values an int32 cannot hold.</summary>
    protected static int[] ToSymbolArray(Tensor roundedFloat)
    {
        var data = roundedFloat.to_type(ScalarType.Float32).contiguous().data<float>();
        var result = new int[data.Count];
        int i = 0;
        foreach (var v in data)
        {
            if (!float.IsFinite(v) || v < int.MinValue || v > int.MaxValue)
                throw new ArgumentException($"latent value {v} cannot be entropy coded (non-finite or out of int32 range)");
            result[i++] = (int)v;
        }
        return result;
    }

    /// <summary>Encodes each batch item of int symbols with per-symbol table indexes; one string per item.</summary>
    protected byte[][] EncodeBatch(int[] symbols, int[] indexes, int batch)
    {
        var table = CoderTable();
        int per = symbols.Length / Math.Max(batch, 1);
        var strings = new byte[batch][];
        for (int b = 0; b < batch; b++)
            strings[b] = RansEncoder.EncodeWithIndexes(symbols.AsSpan(b * per, per), indexes.AsSpan(b * per, per), table);
        return strings;
    }

    /// <summary>Decodes each batch item's string with the given per-item indexes.</summary>
    protected int[] DecodeBatch(IReadOnlyList<byte[]> strings, int[] indexes)
    {
        var table = CoderTable();
        int batch = strings.Count;
        if (batch == 0) throw new ArgumentException("no strings to decode");
        int per = indexes.Length / batch;
        var symbols = new int[indexes.Length];
        for (int b = 0; b < batch; b++)
        {
            var decoder = new RansDecoder(table);
            decoder.SetStream(strings[b]);
            decoder.DecodeStream(indexes.AsSpan(b * per, per), symbols.AsSpan(b * per, per));
            if (!decoder.IsAtEnd)
                throw new Bitstream.InvalidBitstreamException($"{ModelLabel()} string {b} does not end where its symbols end (corrupt or mismatched stream)");
        }
        return symbols;
    }
}

public sealed partial class EntropyBottleneck
{
    private Tensor MediansBroadcast(long dims)
    {
        var shape = new long[dims];
        Array.Fill(shape, 1L);
        shape[1] = Channels;
        return Medians().reshape(shape);
    }

    /// <summary>Entropy codes <paramref name="x"/> [B,C,…]: symbols <c>round(x - median)</c>, one CDF per channel; one string per batch item.</summary>
    public byte[][] Compress(Tensor x)
    {
        if (x.dim() < 2 || x.shape[1] != Channels)
            throw new ArgumentException($"EntropyBottleneck.Compress expects [B,{Channels},…], got [{string.Join(",", x.shape)}]");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var medians = MediansBroadcast(x.dim());
        var symbols = ToSymbolArray(torch.round(x - medians));
        var indexes = ChannelIndexes(x.shape);
        return EncodeBatch(symbols, indexes, (int)x.shape[0]);
    }

    /// <summary>Decodes strings produced by <see cref="Compress"/> into <c>symbols + median</c>, shaped [B,C,spatial…].</summary>
    public Tensor Decompress(IReadOnlyList<byte[]> strings, IReadOnlyList<long> spatialShape)
    {
        var shape = new long[spatialShape.Count + 2];
        shape[0] = strings.Count; shape[1] = Channels;
        for (int i = 0; i < spatialShape.Count; i++)
        {
            if (spatialShape[i] <= 0) throw new ArgumentException("latent sizes must be positive");
            shape[i + 2] = spatialShape[i];
        }
        var indexes = ChannelIndexes(shape);
        var symbols = DecodeBatch(strings, indexes);
        using var scope = NewDisposeScope();
        // add with a kept alpha: `a + b` passes a temporary Scalar 1 that the GC can finalise during the native call
        // (found by the bitstream fuzzer: "Expected false to be true ... toFloat"; see Runtime/KeptScalars).
        var result = tensor(symbols, shape, ScalarType.Int32).to_type(ScalarType.Float32).add(MediansBroadcast(shape.Length), Runtime.KeptScalars.One);
        return result.MoveToOuterDisposeScope();
    }

    private int[] ChannelIndexes(long[] shape)
    {
        long spatial = 1;
        for (int i = 2; i < shape.Length; i++) spatial *= shape[i];
        long total = shape[0] * Channels * spatial;
        if (total > int.MaxValue) throw new ArgumentException("latent too large to code");
        var idx = new int[total];
        int k = 0;
        for (long b = 0; b < shape[0]; b++)
            for (int c = 0; c < Channels; c++)
                for (long s = 0; s < spatial; s++) idx[k++] = c;
        return idx;
    }
}

public sealed partial class GaussianConditional
{
    /// <summary>Entropy codes <paramref name="y"/> with table indexes (from <see cref="BuildIndexes(Tensor)"/>) and optional means.</summary>
    public byte[][] Compress(Tensor y, Tensor indexes, Tensor? means = null)
    {
        if (!y.shape.SequenceEqual(indexes.shape)) throw new ArgumentException("y and indexes must have the same shape");
        if (y.dim() < 2) throw new ArgumentException("y must be [B,C,…]");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var symbols = ToSymbolArray(means is null ? torch.round(y) : torch.round(y - means));
        var idx = indexes.to_type(ScalarType.Int32).contiguous().data<int>().ToArray();
        return EncodeBatch(symbols, idx, (int)y.shape[0]);
    }

    /// <summary>Decodes strings with the same indexes the encoder used; returns <c>symbols + means</c> as float.</summary>
    public Tensor Decompress(IReadOnlyList<byte[]> strings, Tensor indexes, Tensor? means = null)
    {
        if (indexes.shape[0] != strings.Count) throw new ArgumentException("one string per batch item is required");
        var idx = indexes.to_type(ScalarType.Int32).contiguous().data<int>().ToArray();
        var symbols = DecodeBatch(strings, idx);
        using var scope = NewDisposeScope();
        var result = Dequantize(tensor(symbols, indexes.shape, ScalarType.Int32), means);
        return result.MoveToOuterDisposeScope();
    }
}
