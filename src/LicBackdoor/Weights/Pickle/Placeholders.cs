using static TorchSharp.torch;

namespace LicBackdoor.Weights.Pickle;

/// <summary>
/// One storage of a checkpoint as its pickle declares it (key, element type, element count). Its bytes
/// are read after unpickling (in the legacy format they follow the pickle), into <see cref="Data"/>.
/// </summary>
internal sealed class StorageRecord(string key, PickleGlobal type, long numel)
{
    public string Key { get; } = key;

    public PickleGlobal Type { get; } = type;

    public ScalarType DType => Type.DType;

    public int ElementSize => Type.ElementSize;

    /// <summary>Element count declared in the pickle; the file must hold at least this many.</summary>
    public long Numel { get; } = numel;

    public long ByteLength => checked(Numel * ElementSize);

    /// <summary>The storage as a 1-D tensor once its bytes are read.</summary>
    public Tensor? Data { get; set; }
}

/// <summary>What a persistent id resolves to: a storage, or (legacy format) an element range of one.</summary>
internal sealed class StorageView(StorageRecord record, long offset, long numel)
{
    public StorageRecord Record { get; } = record;

    /// <summary>First element of the view in the record.</summary>
    public long Offset { get; } = offset;

    public long Numel { get; } = numel;
}

/// <summary>A tensor the pickle rebuilds: validated geometry on a storage, materialised after the storages are read.</summary>
internal sealed class TensorSpec(StorageView storage, long offset, long[] size, long[] stride)
{
    public StorageView Storage { get; } = storage;

    /// <summary>Storage offset in elements, relative to <see cref="Storage"/>.</summary>
    public long Offset { get; } = offset;

    public long[] Size { get; } = size;

    public long[] Stride { get; } = stride;

    public long Numel { get; } = size.Aggregate(1L, (a, b) => checked(a * b));

    public long ByteLength => checked(Numel * Storage.Record.ElementSize);
}
