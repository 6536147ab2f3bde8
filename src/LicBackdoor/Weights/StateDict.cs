using System.Security.Cryptography;
using LicBackdoor.Codec.Entropy;
using static TorchSharp.torch;

namespace LicBackdoor.Weights;

/// <summary>
/// Loading state dicts into modules the way CompressAI's <c>CompressionModel.load_state_dict</c> does:
/// the entropy models' CDF buffers (whose sizes depend on the trained density) are resized to the
/// checkpoint's shapes first, then every key must match exactly (strict).
/// </summary>
public static class StateDict
{
    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="module"/> (8-bit weights and their scales, <see cref="Int8Weights"/>,
    /// are turned into float weights first); <paramref name="fileName"/> is used in errors.
    /// </summary>
    public static void Load(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string fileName)
    {
        var dequantized = Int8Weights.Dequantize(source, fileName, out var created);
        try { LoadFloat(module, dequantized, fileName); }
        finally { foreach (var t in created) t.Dispose(); }
    }

    private static void LoadFloat(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string fileName)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new CheckpointFormatException(
                $"{fileName}: does not fit {module.GetName()}: " +
                (missing.Count > 0 ? $"{missing.Count} missing keys ({string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}) " : "") +
                (unexpected.Count > 0 ? $"{unexpected.Count} unexpected keys ({string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", …" : "")})" : ""),
                fileName);
        var resizable = new HashSet<string>();
        var masks = new Dictionary<string, Codec.Layers.MaskedConv2d>(); // an empty mask in the file: the module's standard one
        foreach (var (prefix, sub) in module.named_modules())
            if (sub is EntropyModel em)
                foreach (var b in em.ResizableBufferNames) resizable.Add(prefix.Length == 0 ? b : prefix + "." + b);
            else if (sub is Codec.Layers.MaskedConv2d mc)
                masks[prefix.Length == 0 ? "mask" : prefix + ".mask"] = mc;
        using var _ = no_grad();
        foreach (var (key, dst) in target)
        {
            using var scope = NewDisposeScope(); // keeps the converted temporaries reachable during the native copies
            var src = source[key];
            if (src.numel() == 0 && masks.TryGetValue(key, out var masked))
            {
                dst.copy_(Codec.Layers.MaskedConv2d.BuildMask(dst.shape[0], dst.shape[1], dst.shape[2], dst.shape[3], masked.MaskType));
                continue;
            }
            if (!src.shape.SequenceEqual(dst.shape))
            {
                if (!resizable.Contains(key))
                    throw new CheckpointFormatException($"{fileName}: '{key}' has shape [{string.Join(",", src.shape)}], the model expects [{string.Join(",", dst.shape)}]", fileName);
                dst.set_(src.to_type(dst.dtype).clone());
                continue;
            }
            if (src.is_floating_point() && dst.is_floating_point())
            {
                var bad = src.isfinite().logical_not().any().item<bool>();
                if (bad && !key.EndsWith("quantized_cdf", StringComparison.Ordinal))
                    throw new CheckpointFormatException($"{fileName}: '{key}' holds NaN or infinite values", fileName);
            }
            dst.copy_(src.to_type(dst.dtype));
        }
        foreach (var (_, sub) in module.named_modules())
            if (sub is GaussianConditional gc)
            {
                try { gc.OnBuffersLoaded(); }
                catch (ArgumentException e) { throw new CheckpointFormatException($"{fileName}: {e.Message}", fileName); }
            }
            else if (sub is EntropyModel em) em.ReloadTables();
    }

    /// <summary>
    /// The tensors of <paramref name="all"/> whose keys start with <paramref name="prefix"/>, with the prefix removed
    /// (one module's part of a checkpoint that holds several), optionally only those whose remaining key
    /// <paramref name="keep"/> accepts.
    /// </summary>
    public static Dictionary<string, Tensor> Section(IReadOnlyDictionary<string, Tensor> all, string prefix, Func<string, bool>? keep = null) =>
        all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal) && (keep is null || keep(kv.Key[prefix.Length..])))
           .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);

    /// <summary>
    /// A 64-bit fingerprint of every tensor in the state dict (names, dtypes, shapes and bytes; SHA-256
    /// truncated), or of those whose key <paramref name="include"/> accepts.
    /// </summary>
    public static ulong Fingerprint(nn.Module module, Func<string, bool>? include = null)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (key, t) in module.state_dict().Where(kv => include is null || include(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{key}|{t.dtype}|{string.Join(",", t.shape)}|"));
            using var c = t.detach().cpu().contiguous();
            sha.AppendData(c.bytes);
        }
        var h = sha.GetHashAndReset();
        return BitConverter.ToUInt64(h, 0);
    }
}
