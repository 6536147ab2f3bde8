using LicBackdoor.Codec.Models;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Zoo;

/// <summary>A codec ready to use, with where it came from.</summary>
/// <param name="Model">The network, in eval mode with CDF tables.</param>
/// <param name="Quality">Quality index recorded in bitstreams.</param>
/// <param name="Source">The weights file, or "init(seed)" for freshly initialised weights.</param>
public sealed record LoadedCodec(CompressionModel Model, int Quality, string Source)
{
    /// <summary>
    /// Fingerprint of the decoder-side weights (every tensor except the analysis transform g_a, which only the
    /// encoder runs), recorded in every bitstream the codec writes so decoding with other weights is refused. A
    /// backdoored encoder (g_a fine-tuned, everything else untouched) therefore writes bitstreams that the vanilla
    /// decoder accepts, which is the paper's threat model.
    /// </summary>
    public ulong Fingerprint { get; } = DecoderFingerprint(Model);

    /// <summary>The fingerprint of every weight (what version-1 <c>.lic</c> files record), computed on first use.</summary>
    public ulong FullFingerprint => fullFingerprint ??= StateDict.Fingerprint(Model);

    private ulong? fullFingerprint;

    /// <summary>The fingerprint of everything in <paramref name="model"/> but <see cref="CompressionModel.Analysis"/>.</summary>
    public static ulong DecoderFingerprint(CompressionModel model) =>
        StateDict.Fingerprint(model, key => !key.StartsWith(CompressionModel.AnalysisPrefix, StringComparison.Ordinal));
}

/// <summary>Saving and loading codec weights as safetensors files with the model name and quality in their metadata.</summary>
public static class ModelStore
{
    /// <summary>Metadata keys written by <see cref="Save"/>.</summary>
    public const string ModelKey = "licb.model", QualityKey = "licb.quality";

    /// <summary>Saves the model's state dict (CompressAI key names) atomically.</summary>
    public static void Save(CompressionModel model, int quality, string path, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var meta = new Dictionary<string, string> { [ModelKey] = model.ModelName, [QualityKey] = quality.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (extraMetadata is not null) foreach (var kv in extraMetadata) meta[kv.Key] = kv.Value;
        Safetensors.Save(path, model.state_dict(), meta);
    }

    /// <summary>
    /// Opens a codec: from <paramref name="weightsPath"/> when given (architecture sizes are inferred from the
    /// tensor shapes, as CompressAI's <c>from_state_dict</c> does), otherwise freshly initialised for
    /// <paramref name="modelName"/> at <paramref name="quality"/> with a fixed seed.
    /// </summary>
    public static LoadedCodec Open(string modelName, int quality, string? weightsPath = null)
    {
        ModelZoo.Get(modelName, quality); // validates name and quality
        weightsPath ??= EmbeddedWeights(modelName, quality);
        if (weightsPath is null)
            return new LoadedCodec(ModelZoo.CreateInitialized(modelName, quality), quality, $"init(seed={ModelZoo.DefaultInitSeed})");
        if (weightsPath == CompressAiKeyword)
            weightsPath = PretrainedCompressAi.Resolve(modelName, quality);
        var (tensors, meta) = LoadAnyStateDict(weightsPath);
        try
        {
            if (meta.TryGetValue(ModelKey, out var recorded) && recorded != modelName)
                throw new CheckpointFormatException($"{weightsPath}: holds a {recorded} model, not {modelName}", weightsPath);
            var model = FromStateDict(modelName, tensors, weightsPath);
            model.eval();
            model.Update(); // builds only the tables the file lacks (a compact file's Gaussian tables were rebuilt by the load)
            return new LoadedCodec(model, quality, weightsPath);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>The folder of the project's own trained weights (the repository's <c>models/</c>, copied beside the program).</summary>
    public static string EmbeddedFolder => Path.Combine(AppContext.BaseDirectory, "models");

    /// <summary>
    /// The project's own trained weights for a model and quality (<c>models/&lt;model&gt;-mini-q&lt;Q&gt;.safetensors</c>),
    /// or null when none were shipped for it.
    /// </summary>
    public static string? EmbeddedWeights(string modelName, int quality)
    {
        var path = Path.Combine(EmbeddedFolder, $"{modelName}-mini-q{quality}.safetensors");
        return File.Exists(path) ? path : null;
    }

    /// <summary>The <c>--weights</c> value that selects CompressAI's published checkpoint for the model and quality.</summary>
    public const string CompressAiKeyword = "compressai";

    /// <summary>
    /// Reads a codec state dict from a safetensors file or a PyTorch checkpoint (zip or legacy format, read by
    /// the restricted unpickler), with CompressAI's legacy key spellings mapped to the current ones.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) LoadAnyStateDict(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        if (TorchCheckpoint.IsTorchCheckpoint(path))
        {
            var sd = TorchCheckpoint.LoadStateDict(path);
            return (CompressAiKeys.Remap(sd, path), new Dictionary<string, string>());
        }
        var (tensors, meta) = Safetensors.Load(path);
        return (CompressAiKeys.Remap(tensors, path), meta);
    }

    /// <summary>Builds the architecture whose sizes the state dict implies and loads it.</summary>
    public static CompressionModel FromStateDict(string modelName, IReadOnlyDictionary<string, Tensor> sd, string fileName)
    {
        long Dim0(string key) => sd.TryGetValue(key, out var t) && t.dim() >= 1 ? t.shape[0]
            : throw new CheckpointFormatException($"{fileName}: '{key}' is missing, cannot infer the {modelName} size", fileName);
        var model = modelName switch
        {
            ScaleHyperprior.Name => ModelZoo.Build(modelName, (int)Dim0("g_a.0.weight"), (int)Dim0("g_a.6.weight")),
            Cheng2020Anchor.Name => ModelZoo.Build(modelName, (int)Dim0("g_a.0.conv1.weight"), (int)Dim0("g_a.6.weight")),
            _ => throw new ArgumentException($"unknown model '{modelName}'"),
        };
        StateDict.Load(model, sd, fileName);
        return model;
    }
}
