using static TorchSharp.torch;

namespace LicBackdoor.Weights.Pickle;

/// <summary>What an allow-listed global stands for; each kind is implemented by our own code.</summary>
internal enum GlobalKind
{
    /// <summary><c>collections.OrderedDict</c>: a class; calling it (or NEWOBJ) makes a <see cref="PickleDict"/>.</summary>
    OrderedDict,

    /// <summary>A <c>torch.*Storage</c> type, named in persistent ids; never called.</summary>
    StorageType,

    /// <summary><c>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])</c>.</summary>
    RebuildTensorV2,

    /// <summary><c>torch._utils._rebuild_tensor(storage, offset, size, stride)</c> (older PyTorch).</summary>
    RebuildTensor,

    /// <summary><c>torch._utils._rebuild_parameter(data, requires_grad, hooks)</c>.</summary>
    RebuildParameter,

    /// <summary><c>torch._utils._rebuild_parameter_with_state(data, requires_grad, hooks, state)</c>.</summary>
    RebuildParameterWithState,

    /// <summary><c>torch.Size(tuple)</c>: a tuple of ints.</summary>
    TorchSize,

    /// <summary><c>_codecs.encode(text, 'latin1')</c>: how protocol 2 pickles Python 3 <c>bytes</c>.</summary>
    CodecsEncode,
}

/// <summary>An allow-listed global: the only things a pickle may name.</summary>
internal sealed record PickleGlobal(string Module, string Name, GlobalKind Kind, ScalarType DType = ScalarType.Float32, int ElementSize = 0)
{
    public string FullName => Module + "." + Name;

    public override string ToString() => FullName;
}

/// <summary>
/// The explicit allow-list of globals a checkpoint pickle may reference. Everything else (<c>os.system</c>,
/// <c>builtins.eval</c>, <c>torch.storage._load_from_bytes</c> (a nested unrestricted <c>torch.load</c>),
/// <c>numpy.*</c>, model classes, ...) is refused when the pickle names it, before anything else happens
/// with it. Nothing is ever looked up by reflection or executed: each entry is implemented by this reader.
/// </summary>
internal static class PickleGlobals
{
    private static readonly Dictionary<(string Module, string Name), PickleGlobal> Allowed = Build();

    private static Dictionary<(string, string), PickleGlobal> Build()
    {
        var list = new List<PickleGlobal>
        {
            new("collections", "OrderedDict", GlobalKind.OrderedDict),
            new("torch._utils", "_rebuild_tensor_v2", GlobalKind.RebuildTensorV2),
            new("torch._utils", "_rebuild_tensor", GlobalKind.RebuildTensor),
            new("torch._utils", "_rebuild_parameter", GlobalKind.RebuildParameter),
            new("torch._utils", "_rebuild_parameter_with_state", GlobalKind.RebuildParameterWithState),
            new("torch", "Size", GlobalKind.TorchSize),
            new("_codecs", "encode", GlobalKind.CodecsEncode),
        };
        foreach (var (name, type, size) in new (string, ScalarType, int)[]
                 {
                     ("FloatStorage", ScalarType.Float32, 4), ("DoubleStorage", ScalarType.Float64, 8),
                     ("HalfStorage", ScalarType.Float16, 2), ("BFloat16Storage", ScalarType.BFloat16, 2),
                     ("LongStorage", ScalarType.Int64, 8), ("IntStorage", ScalarType.Int32, 4),
                     ("ShortStorage", ScalarType.Int16, 2), ("CharStorage", ScalarType.Int8, 1),
                     ("ByteStorage", ScalarType.Byte, 1), ("BoolStorage", ScalarType.Bool, 1),
                     ("UntypedStorage", ScalarType.Byte, 1),
                 })
            list.Add(new PickleGlobal("torch", name, GlobalKind.StorageType, type, size));
        return list.ToDictionary(g => (g.Module, g.Name));
    }

    /// <summary>The allow-listed global, or a <see cref="CheckpointFormatException"/> naming it and the file.</summary>
    public static PickleGlobal Resolve(string module, string name, string file)
    {
        if (Allowed.TryGetValue((module, name), out var g)) return g;
        throw new CheckpointFormatException(
            $"{file}: refused global '{Printable(module)}.{Printable(name)}': a checkpoint may only reference PyTorch tensor, " +
            "storage and state-dict types (nothing in it is executed)", file);
    }

    /// <summary>A name safe to print in a message: at most 100 characters, control characters escaped.</summary>
    public static string Printable(string s)
    {
        var sb = new System.Text.StringBuilder();
        foreach (char c in s.Length > 100 ? s[..100] : s)
            sb.Append(char.IsControl(c) ? $"\\x{(int)c:x2}" : c);
        if (s.Length > 100) sb.Append('…');
        return sb.ToString();
    }
}
