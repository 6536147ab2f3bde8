using static TorchSharp.torch;

namespace LicBackdoor.Weights;

/// <summary>The weight file formats the project reads.</summary>
public enum WeightsFormat { Safetensors, TorchZip, TorchLegacy, TfJsManifest }

/// <summary>
/// Any supported weights file as a flat name → tensor map: safetensors, PyTorch checkpoints (zip or legacy,
/// through the restricted unpickler; nested state dicts are flattened with dotted names) and TF.js manifests.
/// </summary>
public static class WeightsFile
{
    /// <summary>Detects the format from the file's first bytes (and the .json extension for TF.js).</summary>
    public static WeightsFormat Detect(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        Span<byte> head = stackalloc byte[8];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.Read(head);
        if (n >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4) return WeightsFormat.TorchZip;
        if (TorchCheckpoint.IsTorchCheckpoint(path)) return WeightsFormat.TorchLegacy;
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return WeightsFormat.TfJsManifest;
        if (n == 8 && BitConverter.ToUInt64(head) < 100_000_000) return WeightsFormat.Safetensors;
        throw new CheckpointFormatException($"{path}: not a safetensors file, PyTorch checkpoint or TF.js manifest", path);
    }

    /// <summary>Loads every tensor of the file; the caller disposes them.</summary>
    public static (WeightsFormat Format, Dictionary<string, Tensor> Tensors) Load(string path)
    {
        var (format, tensors, _) = LoadWithMetadata(path);
        return (format, tensors);
    }

    /// <summary>
    /// Every tensor and the string metadata (a safetensors file's <c>__metadata__</c>; empty for the other formats),
    /// from one read of the file; the caller disposes the tensors.
    /// </summary>
    public static (WeightsFormat Format, Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) LoadWithMetadata(string path)
    {
        var format = Detect(path);
        switch (format)
        {
            case WeightsFormat.Safetensors:
                var (tensors, meta) = Safetensors.Load(path);
                return (format, tensors, meta);
            case WeightsFormat.TfJsManifest:
                return (format, TfJsWeights.Load(path), new Dictionary<string, string>());
            default:
                return (format, Flatten(TorchCheckpoint.Load(path), path), new Dictionary<string, string>());
        }
    }

    /// <summary>
    /// A copy of the state dict with float32 layer weights, biases and GDN beta/gamma stored as float16, which
    /// halves a codec's file, and the context model's 0/1 mask too (exact in float16); entropy-model parameters
    /// (quantiles, density matrices) and the other buffers stay float32. Loading converts back to float32, so the
    /// loaded model is the float16-rounded one.
    /// </summary>
    public static Dictionary<string, Tensor> HalveLayerWeights(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in stateDict)
        {
            bool layer = name.EndsWith(".weight", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal)
                         || name.EndsWith(".beta", StringComparison.Ordinal) || name.EndsWith(".gamma", StringComparison.Ordinal)
                         || name.EndsWith(ContextMaskKey, StringComparison.Ordinal); // 0/1, exact in float16
            result[name] = layer && t.dtype == ScalarType.Float32 && !name.Contains("entropy_bottleneck", StringComparison.Ordinal)
                ? t.to_type(ScalarType.Float16) : t;
        }
        return result;
    }

    /// <summary>Key of cheng2020-anchor's context-model mask (halved by <see cref="HalveLayerWeights"/>, emptied by <see cref="DropGaussianTables"/>).</summary>
    private const string ContextMaskKey = "context_prediction.mask";

    /// <summary>The Gaussian conditional buffers <see cref="DropGaussianTables"/> empties.</summary>
    private static readonly string[] GaussianTableBuffers = ["gaussian_conditional._quantized_cdf", "gaussian_conditional._offset", "gaussian_conditional._cdf_length"];

    /// <summary>
    /// The state dict with the Gaussian conditional's CDF tables replaced by empty tensors (the keys stay, as
    /// CompressAI's unfilled buffers). The tables are a pure function of <c>gaussian_conditional.scale_table</c>,
    /// which is kept, and loading rebuilds them bit-exactly; for the project's 192-level table they are 2.4 MB
    /// of a file. The context model's mask (cheng2020-anchor's <c>context_prediction.mask</c>, a 0/1 pattern fixed by
    /// the kernel's shape: 1.8 M values at M = 192) is emptied the same way and rebuilt by the load. (CompressAI loads
    /// such a file with <c>load_state_dict</c>; its tables then come from
    /// <c>model.update(scale_table=model.gaussian_conditional.scale_table, force=True)</c>.)
    /// </summary>
    /// <exception cref="ArgumentException">The tables are present but the scale table is missing or empty.</exception>
    public static Dictionary<string, Tensor> DropGaussianTables(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in stateDict)
        {
            if (name.EndsWith(ContextMaskKey, StringComparison.Ordinal))
                result[name] = zeros(0, dtype: ScalarType.Float32); // a fixed 0/1 pattern of the kernel's shape, rebuilt on load
            else if (GaussianTableBuffers.Any(b => name.EndsWith(b, StringComparison.Ordinal)))
            {
                var scaleTable = name[..name.LastIndexOf('.')] + ".scale_table";
                if (t.numel() > 0 && (!stateDict.TryGetValue(scaleTable, out var st) || st.numel() == 0))
                    throw new ArgumentException($"'{name}' cannot be dropped: '{scaleTable}' is missing or empty, so it could not be rebuilt");
                result[name] = zeros(0, dtype: ScalarType.Int32);
            }
            else result[name] = t;
        }
        return result;
    }

    /// <summary>Every tensor reachable in an unpickled object graph, named by its path of dict keys and list indexes.</summary>
    public static Dictionary<string, Tensor> Flatten(object? graph, string fileName)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        void Walk(object? node, string prefix, int depth)
        {
            if (depth > 64) throw new CheckpointFormatException($"{fileName}: object graph nested too deeply", fileName);
            string Join(string k) => prefix.Length == 0 ? k : prefix + "." + k;
            switch (node)
            {
                case Tensor t: result[prefix.Length == 0 ? "tensor" : prefix] = t; break;
                case PickleDict d:
                    foreach (var kv in d) Walk(kv.Value, Join(Convert.ToString(kv.Key, System.Globalization.CultureInfo.InvariantCulture) ?? "null"), depth + 1);
                    break;
                case List<object?> l:
                    for (int i = 0; i < l.Count; i++) Walk(l[i], Join(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), depth + 1);
                    break;
                case object?[] tuple:
                    for (int i = 0; i < tuple.Length; i++) Walk(tuple[i], Join(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), depth + 1);
                    break;
            }
        }
        Walk(graph, "", 0);
        return result;
    }
}
