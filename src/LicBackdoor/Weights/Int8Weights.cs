using static TorchSharp.torch;

namespace LicBackdoor.Weights;

/// <summary>
/// 8-bit storage of convolution weights: each output channel (dimension 0) of a float convolution kernel is stored as
/// int8 values q with one float32 scale s, the weight being q·s, s = max|w| / 127 over the channel (symmetric, round to
/// nearest). The file keeps the weight's key for the int8 tensor and adds <c>KEY.qscale</c> (float32, one per channel);
/// <see cref="StateDict.Load"/> turns the pair back into float weights, so an 8-bit file loads wherever a float one
/// does, as the model whose weights are exactly q·s. Encoder and decoder then compute with the same weights, so
/// bitstreams stay exact; what changes is the rate-distortion of the model (docs/RESULTS.md measures it per file).
/// </summary>
public static class Int8Weights
{
    /// <summary>Suffix of the scale tensor stored beside an 8-bit weight.</summary>
    public const string ScaleSuffix = ".qscale";

    /// <summary>Kernels smaller than this stay as they are (their scales would cost as much as they save).</summary>
    public const int MinElements = 1024;

    /// <summary>
    /// Whether <see cref="Quantize"/> stores a tensor in 8 bits: a float 4-D <c>.weight</c> of at least
    /// <see cref="MinElements"/> elements outside the entropy bottleneck (convolution and transposed-convolution kernels,
    /// the context model's masked kernel). GDN parameters, biases, entropy models and other buffers are left alone.
    /// </summary>
    public static bool IsQuantizable(string name, Tensor t) =>
        t.is_floating_point() && t.dim() == 4 && t.numel() >= MinElements
        && name.EndsWith(".weight", StringComparison.Ordinal)
        && !name.Contains("entropy_bottleneck", StringComparison.Ordinal);

    /// <summary>A copy of the state dict with every <see cref="IsQuantizable"/> tensor stored as int8 plus its scales.</summary>
    /// <exception cref="ArgumentException">A weight holds NaN or infinite values, or a key already ends in <see cref="ScaleSuffix"/>.</exception>
    public static Dictionary<string, Tensor> Quantize(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in stateDict)
        {
            if (name.EndsWith(ScaleSuffix, StringComparison.Ordinal))
                throw new ArgumentException($"'{name}': already holds 8-bit weight scales");
            if (!IsQuantizable(name, t)) { result[name] = t; continue; }
            using var scope = NewDisposeScope();
            var w = t.detach().to_type(ScalarType.Float32).reshape(t.shape[0], -1);
            if (!w.isfinite().all().item<bool>()) throw new ArgumentException($"'{name}' holds NaN or infinite values");
            var scale = w.abs().amax(new long[] { 1 }) / 127f;
            var safe = scale.where(scale > 0, ones_like(scale));
            var q = (w / safe.unsqueeze(1)).round().clamp(-127, 127).to_type(ScalarType.Int8).reshape(t.shape);
            result[name] = q.MoveToOuterDisposeScope();
            result[name + ScaleSuffix] = scale.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>
    /// The state dict with every int8 weight and its <c>.qscale</c> replaced by the float32 weight q·s; the other tensors
    /// are passed through (not copied). The returned <paramref name="created"/> tensors are new and the caller disposes them.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A scale without its int8 weight, an int8 tensor without scales, scales of the
    /// wrong shape, or negative or non-finite scales (names the file and the key).</exception>
    public static Dictionary<string, Tensor> Dequantize(IReadOnlyDictionary<string, Tensor> stateDict, string fileName, out List<Tensor> created)
    {
        created = [];
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        CheckpointFormatException Bad(string key, string what) => new($"{fileName}: 8-bit weight '{key}': {what}", fileName);
        foreach (var (name, t) in stateDict)
        {
            if (name.EndsWith(ScaleSuffix, StringComparison.Ordinal))
            {
                var key = name[..^ScaleSuffix.Length];
                if (!stateDict.TryGetValue(key, out var q) || q.dtype != ScalarType.Int8)
                    throw Bad(key, q is null ? "scales without the weight" : $"scales beside a {q.dtype} tensor (int8 expected)");
                continue;
            }
            if (t.dtype != ScalarType.Int8) { result[name] = t; continue; }
            if (!stateDict.TryGetValue(name + ScaleSuffix, out var s)) throw Bad(name, $"no '{name}{ScaleSuffix}' scales");
            if (t.dim() < 1 || s.dim() != 1 || s.shape[0] != t.shape[0])
                throw Bad(name, $"{s.shape.Length}-D scales of shape [{string.Join(",", s.shape)}] for a weight of shape [{string.Join(",", t.shape)}] (one per output channel expected)");
            using var scope = NewDisposeScope();
            var scale = s.to_type(ScalarType.Float32);
            if (!(scale.isfinite().all().item<bool>() && (scale >= 0).all().item<bool>()))
                throw Bad(name, "negative or non-finite scales");
            var shape = new long[t.dim()];
            shape[0] = t.shape[0];
            for (int i = 1; i < shape.Length; i++) shape[i] = 1;
            var w = (t.to_type(ScalarType.Float32) * scale.reshape(shape)).MoveToOuterDisposeScope();
            created.Add(w);
            result[name] = w;
        }
        return result;
    }
}
