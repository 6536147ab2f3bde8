using System.Numerics;
using LicBackdoor.Weights.Pickle;
using static TorchSharp.torch;

namespace LicBackdoor.Weights;

/// <summary>
/// Reads PyTorch <c>torch.save</c> files (the zip format of PyTorch 1.6+, under any archive folder name, and
/// the older legacy format) without running any code from them: the pickle inside is interpreted by a
/// restricted reader that knows only the opcodes <c>torch.save</c> emits and an explicit allow-list of
/// globals (<c>collections.OrderedDict</c>, <c>torch._utils._rebuild_tensor_v2</c>,
/// <c>torch._utils._rebuild_parameter</c>, the <c>torch.*Storage</c> types, <c>torch.Size</c>, ...).
/// Any other global (<c>os.system</c>, <c>builtins.eval</c>, <c>numpy.*</c>, model classes) is refused with a
/// <see cref="CheckpointFormatException"/> naming it and the file. Sizes, offsets and strides are checked
/// against the file before anything is allocated; truncated or hostile files give the same exception.
/// </summary>
/// <remarks>
/// Tensors come back on the CPU, contiguous, detached (a saved <c>requires_grad</c> is not restored), each
/// with its own memory (views of one storage are copied out). Storages may be float32, float16, bfloat16,
/// float64, int64, int32, int16, int8, uint8 or bool; a big-endian file is converted.
/// </remarks>
public static class TorchCheckpoint
{
    /// <summary>The keys tried, in order, when a checkpoint wraps its state dict in a dict of other things.</summary>
    public static readonly IReadOnlyList<string> StateDictKeys = ["state_dict", "model", "net", "model_state_dict"];

    /// <summary>
    /// Reads a torch.save file (zip format with any archive prefix, or the legacy non-zip format) and
    /// returns the unpickled object graph: <see cref="PickleDict"/> (ordered; string or other keys),
    /// <c>List&lt;object?&gt;</c>, <c>object?[]</c> (tuples), <see cref="string"/>, <see cref="long"/>
    /// (<see cref="BigInteger"/> beyond 64 bits), <see cref="double"/>, <see cref="bool"/>, null,
    /// <c>byte[]</c> (bytes) and <see cref="Tensor"/>. The caller owns (and disposes) the tensors.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The file is not a readable checkpoint, is truncated, or references a global outside the allow-list.</exception>
    public static object? Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return CheckpointReader.Read(path);
    }

    /// <summary>
    /// The state dict in a checkpoint: the top-level dict when all its values are tensors; else the dict
    /// under <paramref name="key"/> when given, or the first of <see cref="StateDictKeys"/> present. A dict
    /// there that holds anything but tensors is an error naming what was found. Other tensors in the file
    /// (optimizer state, ...) are disposed. Keys are returned as saved (no <c>module.</c> stripping).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">No state dict found, or the file is not a readable checkpoint.</exception>
    public static Dictionary<string, Tensor> LoadStateDict(string path, string? key = null)
    {
        var root = Load(path);
        var all = new List<Tensor>();
        CollectTensors(root, all);
        try
        {
            var dict = FindStateDict(root, path, key);
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            var used = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
            foreach (var (k, v) in dict)
            {
                var t = (Tensor)v!;
                // The same tensor object under two names (tied weights): give each name its own.
                result[(string)k] = used.Add(t) ? t : t.clone();
            }
            foreach (var t in all) if (!used.Contains(t)) t.Dispose();
            return result;
        }
        catch
        {
            foreach (var t in all) t.Dispose();
            throw;
        }
    }

    /// <summary>True when the file starts like a torch.save checkpoint (zip magic, or the legacy format's pickled magic number).</summary>
    public static bool IsTorchCheckpoint(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) return false;
        try { return CheckpointReader.Sniff(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    private static bool IsTensorDict(PickleDict d) => d.All(kv => kv.Key is string && kv.Value is Tensor);

    private static PickleDict FindStateDict(object? root, string path, string? key)
    {
        CheckpointFormatException Bad(string what) => new($"{path}: {what}", path);
        if (root is not PickleDict top)
            throw Bad($"holds {Describe(root)}, not a state dict");
        if (key is null && IsTensorDict(top)) return top;
        var candidates = key is null ? StateDictKeys : [key];
        foreach (var k in candidates)
        {
            if (!top.TryGetValue(k, out var inner)) continue;
            if (inner is PickleDict d && IsTensorDict(d)) return d;
            if (inner is PickleDict bad)
            {
                var odd = bad.Where(kv => kv.Key is not string || kv.Value is not Tensor).Take(5)
                    .Select(kv => $"'{kv.Key}': {Describe(kv.Value)}");
                throw Bad($"'{k}' is not a state dict: it holds non-tensor values ({string.Join(", ", odd)}{(bad.Count(kv => kv.Value is not Tensor) > 5 ? ", …" : "")})");
            }
            throw Bad($"'{k}' holds {Describe(inner)}, not a state dict");
        }
        var found = string.Join(", ", top.Take(10).Select(kv => $"'{kv.Key}': {Describe(kv.Value)}"));
        throw Bad(key is not null
            ? $"has no entry '{key}' (found {found}{(top.Count > 10 ? ", …" : "")})"
            : $"no state dict found: the top-level dict holds {found}{(top.Count > 10 ? ", …" : "")}; " +
              $"none of {string.Join(", ", StateDictKeys.Select(s => $"'{s}'"))} is present (pass the key)");
    }

    private static string Describe(object? o) => o switch
    {
        Tensor t => $"tensor [{string.Join(", ", t.shape)}] {t.dtype}",
        PickleDict d => $"dict ({d.Count} entries)",
        List<object?> l => $"list ({l.Count})",
        object?[] t => $"tuple ({t.Length})",
        string => "str",
        long or BigInteger => "int",
        double => "float",
        bool => "bool",
        null => "None",
        byte[] => "bytes",
        _ => o.GetType().Name,
    };

    /// <summary>All tensors in the graph (the graph has been checked: finite, acyclic, bounded depth).</summary>
    private static void CollectTensors(object? root, List<Tensor> into)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var todo = new Stack<object?>();
        todo.Push(root);
        while (todo.Count > 0)
        {
            var o = todo.Pop();
            if (o is null || !seen.Add(o)) continue;
            switch (o)
            {
                case Tensor t: into.Add(t); break;
                case PickleDict d: foreach (var v in d.Values) todo.Push(v); todo.Push(d.State); break;
                case List<object?> l: foreach (var v in l) todo.Push(v); break;
                case object?[] a: foreach (var v in a) todo.Push(v); break;
            }
        }
    }
}
