using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Downstream;

/// <summary>
/// A frozen semantic segmentation net g(·) over CamVid's classes, as the downstream attacks (paper Eqs. 11-12) use it:
/// images <c>[N, 3, H, W]</c> in [0, 1] of any size in, per-pixel logits or classes at the same size out.
/// </summary>
public interface ISegmentationNet : IDisposable
{
    /// <summary>A short name for reports (e.g. <c>enet-camvid</c>).</summary>
    string Name { get; }

    /// <summary>The weights file the net was loaded from.</summary>
    string Source { get; }

    /// <summary>Logits <c>[N, C, H, W]</c> (channel k = CamVid label k); differentiable with respect to the images.</summary>
    Tensor Logits(Tensor images);

    /// <summary>Class indices <c>[N, H, W]</c> (int64): the exact evaluation path, no gradient.</summary>
    Tensor Predict(Tensor images);
}

/// <summary>ENet (<see cref="ENet"/>) as an <see cref="ISegmentationNet"/>: frozen (eval mode, no parameter gradients).</summary>
public sealed class ENetSegmenter : ISegmentationNet
{
    /// <summary>Loads ENet weights (PyTorch checkpoint or safetensors) into a frozen net resizing to <paramref name="processingSize"/>.</summary>
    public ENetSegmenter(string path, int processingSize = ENet.InputSize)
    {
        Net = new ENet { ProcessingSize = processingSize };
        try { Net.LoadWeights(path); }
        catch { Net.Dispose(); throw; }
        SegmentationNets.Freeze(Net);
        Source = path;
    }

    /// <summary>Wraps an existing net (frozen in place).</summary>
    public ENetSegmenter(ENet net, string source)
    {
        Net = net;
        SegmentationNets.Freeze(Net);
        Source = source;
    }

    /// <summary>The wrapped net.</summary>
    public ENet Net { get; }

    public string Name => "enet-camvid";

    public string Source { get; }

    public Tensor Logits(Tensor images) => Net.Logits(images);

    public Tensor Predict(Tensor images) => Net.Predict(images);

    public void Dispose() => Net.Dispose();
}

/// <summary>
/// Where segmentation nets come from: the default weights of the segmentation attack and a loader that picks the
/// architecture from the file. A safetensors file names its architecture in the metadata key <see cref="ModelKey"/>
/// (<c>enet-camvid</c> for <see cref="ENet.Save"/>); other architectures plug in with <see cref="Register"/>.
/// A PyTorch checkpoint is read as ENet.
/// </summary>
public static class SegmentationNets
{
    /// <summary>The safetensors metadata key naming a net's architecture.</summary>
    public const string ModelKey = "licb.model";

    /// <summary>The architecture tag of ENet files.</summary>
    public const string ENetTag = "enet-camvid";

    /// <summary>The project's own trained ENet, in the repository's <c>models/</c> (copied beside the program), preferred when present.</summary>
    public const string TrainedWeightsFile = "enet-camvid.safetensors";

    /// <summary>The published checkpoint, relative to the data root (barely trained, see downstream-spec A11).</summary>
    public static readonly string[] PublishedWeights = ["models", "enet-camvid", "enet-camvid.pth"];

    private static readonly Dictionary<string, Func<string, int, ISegmentationNet>> Loaders = new(StringComparer.Ordinal)
    {
        [ENetTag] = (path, size) => new ENetSegmenter(path, size),
    };

    /// <summary>
    /// The default weights of the segmentation attack: <c>models/enet-camvid.safetensors</c> beside the program when the
    /// repository ships it, otherwise the published checkpoint <c>&lt;data&gt;/models/enet-camvid/enet-camvid.pth</c>.
    /// </summary>
    public static string DefaultWeights(string? dataRoot = null)
    {
        var trained = Path.Combine(ModelStore.EmbeddedFolder, TrainedWeightsFile);
        return File.Exists(trained) ? trained : Path.Combine([DataRoot.Resolve(dataRoot), .. PublishedWeights]);
    }

    /// <summary>Registers a loader for safetensors files whose <see cref="ModelKey"/> is <paramref name="tag"/> (path, processing size → net).</summary>
    public static void Register(string tag, Func<string, int, ISegmentationNet> loader)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tag);
        ArgumentNullException.ThrowIfNull(loader);
        lock (Loaders) Loaders[tag] = loader;
    }

    /// <summary>The architecture tag of a weights file: ENet for a PyTorch checkpoint, the <see cref="ModelKey"/> metadata of a safetensors file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="CheckpointFormatException">Neither format, or a safetensors file without the key.</exception>
    public static string Architecture(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: segmentation net weights not found", path);
        if (TorchCheckpoint.IsTorchCheckpoint(path)) return ENetTag;
        var (tensors, meta) = Safetensors.Load(path);
        foreach (var t in tensors.Values) t.Dispose();
        return meta.TryGetValue(ModelKey, out var tag) && tag.Length > 0 ? tag
            : throw new CheckpointFormatException($"{path}: a safetensors file without '{ModelKey}' metadata; cannot tell which segmentation net it holds", path);
    }

    /// <summary>Whether this build has a loader for <paramref name="path"/>'s architecture.</summary>
    public static bool CanLoad(string path)
    {
        var tag = Architecture(path);
        lock (Loaders) return Loaders.ContainsKey(tag);
    }

    /// <summary>Loads a frozen segmentation net; <paramref name="processingSize"/> is the square side ENet resizes to (512 as published).</summary>
    /// <exception cref="CheckpointFormatException">Unknown architecture or unreadable weights (the message names the file).</exception>
    public static ISegmentationNet Load(string path, int processingSize = ENet.InputSize)
    {
        var tag = Architecture(path);
        Func<string, int, ISegmentationNet>? loader;
        lock (Loaders) Loaders.TryGetValue(tag, out loader);
        if (loader is null)
            throw new CheckpointFormatException($"{path}: segmentation net '{tag}' has no loader in this build (known: {string.Join(", ", Loaders.Keys)})", path);
        return loader(path, processingSize);
    }

    /// <summary>Eval mode and no parameter gradients: gradients still flow through the net to its input.</summary>
    public static void Freeze(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        module.eval();
        foreach (var p in module.parameters()) p.requires_grad = false;
    }
}
