using System.Globalization;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Runtime;
using LicBackdoor.Weights;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Downstream;

/// <summary>
/// How a segmentation net's input is made from images in [0, 1]: the size the image is resized to, and the
/// normalisation <c>(255·x − Mean) / Std</c> per RGB channel (Mean and Std in grey levels, 0..255).
/// Recorded in the <c>licb.input.*</c> metadata of the weights files this project writes, so a net trained
/// here is evaluated with its own preprocessing while the published ENet checkpoint keeps the original's
/// (<see cref="Published"/>: 512 × 512, raw 0..255).
/// </summary>
public sealed record SegmentationPreprocessing
{
    /// <summary>ImageNet's RGB mean and standard deviation in grey levels (0.485, 0.456, 0.406 / 0.229, 0.224, 0.225 × 255).</summary>
    public static readonly IReadOnlyList<float> ImageNetMean = [123.675f, 116.28f, 103.53f], ImageNetStd = [58.395f, 57.12f, 57.375f];

    /// <summary>A fixed input width, or null: the image's width times <see cref="Scale"/>.</summary>
    public int? Width { get; init; }

    /// <summary>A fixed input height, or null: the image's height times <see cref="Scale"/>.</summary>
    public int? Height { get; init; }

    /// <summary>Without a fixed size: the factor the image is resized by (1: the image's own size).</summary>
    public double Scale { get; init; } = 1;

    /// <summary>Input sides are rounded to a multiple of this (ENet: 8).</summary>
    public int Multiple { get; init; } = 1;

    /// <summary>Per-channel mean subtracted from 255·x.</summary>
    public IReadOnlyList<float> Mean { get; init; } = [0f, 0f, 0f];

    /// <summary>Per-channel divisor after the mean.</summary>
    public IReadOnlyList<float> Std { get; init; } = [1f, 1f, 1f];

    /// <summary>The original ENet code's preprocessing (downstream-spec A2): 512 × 512, values 0..255.</summary>
    public static SegmentationPreprocessing Published(int size = ENet.InputSize) => new() { Width = size, Height = size, Multiple = 8 };

    /// <summary>The preprocessing of the nets trained here: the image scaled by <paramref name="scale"/>, ImageNet normalisation.</summary>
    public static SegmentationPreprocessing Normalized(double scale, int multiple) =>
        new() { Scale = scale, Multiple = multiple, Mean = ImageNetMean, Std = ImageNetStd };

    /// <summary>Checks the values; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public SegmentationPreprocessing Validated()
    {
        if (Multiple < 1) throw new ArgumentException($"input multiple must be at least 1, got {Multiple}");
        if (Width is int w && (w < Multiple || w % Multiple != 0) || Height is int h && (h < Multiple || h % Multiple != 0))
            throw new ArgumentException($"fixed input size {Width}x{Height} must be positive multiples of {Multiple}");
        if ((Width is null) != (Height is null)) throw new ArgumentException("give both a fixed input width and height, or neither");
        if (!(Scale > 0 && Scale <= 8)) throw new ArgumentException($"input scale must be in (0, 8], got {Scale}");
        if (Mean.Count != 3 || Std.Count != 3 || Std.Any(s => !(s > 0) || !float.IsFinite(s)) || Mean.Any(m => !float.IsFinite(m)))
            throw new ArgumentException("input mean and std need 3 finite values each, std positive");
        return this;
    }

    /// <summary>The net's input size (H, W) for an image of <paramref name="h"/> × <paramref name="w"/>.</summary>
    public (long H, long W) InputSize(long h, long w)
    {
        if (Width is int fw && Height is int fh) return (fh, fw);
        long Round(long side) => Math.Max(Multiple, (long)Math.Round(side * Scale / Multiple, MidpointRounding.AwayFromZero) * Multiple);
        return (Round(h), Round(w));
    }

    /// <summary>Normalises values in grey levels (<c>255·x</c>, <c>[N, 3, H, W]</c>): <c>(v − Mean) / Std</c>; the identity for the published preprocessing.</summary>
    public Tensor Normalize(Tensor greyLevels)
    {
        bool identity = Mean.All(m => m == 0) && Std.All(s => s == 1);
        if (identity) return greyLevels.alias();
        using var scope = NewDisposeScope();
        var mean = tensor(Mean.ToArray(), dtype: greyLevels.dtype, device: greyLevels.device).view(1, 3, 1, 1);
        var std = tensor(Std.ToArray(), dtype: greyLevels.dtype, device: greyLevels.device).view(1, 3, 1, 1);
        return ((greyLevels - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>The <c>licb.input.*</c> metadata entries.</summary>
    public void WriteMetadata(IDictionary<string, string> metadata)
    {
        var c = CultureInfo.InvariantCulture;
        metadata["licb.input.size"] = Width is int w && Height is int h ? string.Create(c, $"{w}x{h}") : "scaled";
        metadata["licb.input.scale"] = Scale.ToString("R", c);
        metadata["licb.input.multiple"] = Multiple.ToString(c);
        metadata["licb.input.mean"] = string.Join(",", Mean.Select(v => v.ToString("R", c)));
        metadata["licb.input.std"] = string.Join(",", Std.Select(v => v.ToString("R", c)));
    }

    /// <summary>The preprocessing recorded in <paramref name="metadata"/>, or null when the file records none.</summary>
    /// <exception cref="CheckpointFormatException">The entries are present but malformed.</exception>
    public static SegmentationPreprocessing? FromMetadata(IReadOnlyDictionary<string, string> metadata, string fileName)
    {
        if (!metadata.TryGetValue("licb.input.size", out var size)) return null;
        var c = CultureInfo.InvariantCulture;
        try
        {
            float[] Floats(string key) => metadata[key].Split(',').Select(v => float.Parse(v, NumberStyles.Float, c)).ToArray();
            int? w = null, h = null;
            if (size != "scaled")
            {
                var parts = size.Split('x');
                if (parts.Length != 2) throw new FormatException($"input size '{size}'");
                (w, h) = (int.Parse(parts[0], c), int.Parse(parts[1], c));
            }
            return new SegmentationPreprocessing
            {
                Width = w, Height = h,
                Scale = double.Parse(metadata["licb.input.scale"], NumberStyles.Float, c),
                Multiple = int.Parse(metadata["licb.input.multiple"], c),
                Mean = Floats("licb.input.mean"), Std = Floats("licb.input.std"),
            }.Validated();
        }
        catch (Exception e) when (e is FormatException or OverflowException or KeyNotFoundException or ArgumentException)
        {
            throw new CheckpointFormatException($"{fileName}: bad licb.input metadata ({e.Message})", fileName, e);
        }
    }

    /// <summary>Value equality, including the mean and std values.</summary>
    public bool Equals(SegmentationPreprocessing? other) =>
        other is not null && Width == other.Width && Height == other.Height && Scale == other.Scale && Multiple == other.Multiple
        && Mean.SequenceEqual(other.Mean) && Std.SequenceEqual(other.Std);

    public override int GetHashCode() => HashCode.Combine(Width, Height, Scale, Multiple, Mean.Count > 0 ? Mean[0] : 0, Std.Count > 0 ? Std[0] : 0);

    /// <summary>A one-line description, e.g. <c>512x512, 0..255</c> or <c>scale 0.75, ImageNet mean/std</c>.</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        string size = Width is int w && Height is int h ? string.Create(c, $"{w}x{h}") : string.Create(c, $"scale {Scale:G4} (multiple of {Multiple})");
        string norm = Mean.All(m => m == 0) && Std.All(s => s == 1) ? "0..255" : Mean.SequenceEqual(ImageNetMean) && Std.SequenceEqual(ImageNetStd) ? "ImageNet mean/std" : "custom mean/std";
        return $"{size}, {norm}";
    }
}

/// <summary>
/// A CamVid semantic segmentation net: <see cref="nn.Module{T, TResult}.forward"/> maps a normalised input
/// <c>[N, 3, H, W]</c> to logits <c>[N, 12, H, W]</c> (channel k is CamVid label k, 11 = void);
/// <see cref="Logits"/> and <see cref="Predict"/> take images in [0, 1] of any size and apply the net's
/// <see cref="Preprocessing"/>. Implemented by <see cref="ENet"/> (the paper's downstream net g(·)) and
/// <see cref="SegResNet"/> (a second architecture, used to measure how the attack transfers).
/// </summary>
public abstract class SegmentationNet : nn.Module<Tensor, Tensor>
{
    /// <summary>Output channels: CamVid's 11 classes plus void.</summary>
    public const int NumClasses = 12;

    private SegmentationPreprocessing preprocessing;

    protected SegmentationNet(string name, SegmentationPreprocessing preprocessing) : base(name) =>
        this.preprocessing = preprocessing.Validated();

    /// <summary>The <c>licb.model</c> name written into weights files (<c>enet-camvid</c>, <c>segresnet-camvid</c>).</summary>
    public abstract string Architecture { get; }

    /// <summary>Input sides must be multiples of this (ENet: 8; 1 when any size works).</summary>
    public abstract int SizeMultiple { get; }

    /// <summary>How images become the net's input (resize, normalisation); set from the weights file's metadata.</summary>
    public SegmentationPreprocessing Preprocessing
    {
        get => preprocessing;
        set
        {
            value.Validated();
            if (value.Multiple % SizeMultiple != 0)
                throw new ArgumentException($"{Architecture} needs input sides that are multiples of {SizeMultiple}, the preprocessing gives multiples of {value.Multiple}");
            preprocessing = value;
        }
    }

    /// <summary>
    /// The net's input for images <c>[N, 3, H, W]</c> in [0, 1]: resized bilinearly (align_corners = false) to
    /// the preprocessing's size, scaled to grey levels (rounded to whole levels and clamped to 0..255 when
    /// <paramref name="roundInput"/>), normalised.
    /// </summary>
    public Tensor Input(Tensor images, bool roundInput = false)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"expected images [N, 3, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        using var scope = NewDisposeScope();
        var (ih, iw) = Preprocessing.InputSize(images.shape[2], images.shape[3]);
        var x = ih == images.shape[2] && iw == images.shape[3] ? images
            : F.interpolate(images, [ih, iw], mode: InterpolationMode.Bilinear, align_corners: false);
        x = x * KeptScalars.GreyLevels;
        if (roundInput) x = x.round().clamp(KeptScalars.Zero, KeptScalars.GreyLevels);
        return Preprocessing.Normalize(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits <c>[N, 12, H, W]</c> for images <c>[N, 3, H, W]</c> in [0, 1] of any size: <see cref="Input"/>, the
    /// net, and the logits resized bilinearly (align_corners = false) back to H × W. Differentiable end to end
    /// (the attacks back-propagate through it).
    /// </summary>
    /// <param name="images">Images in [0, 1].</param>
    /// <param name="roundInput">
    /// Round the resized input to whole grey levels (clamped to 0..255), as the original code's uint8 image
    /// does. That is the exact evaluation path (<see cref="Predict"/>), but rounding has zero gradient, so
    /// the default (false) skips it; the two differ by at most half a grey level per input value.
    /// </param>
    public Tensor Logits(Tensor images, bool roundInput = false)
    {
        using var scope = NewDisposeScope();
        var x = Input(images, roundInput);
        long h = images.shape[2], w = images.shape[3];
        var logits = forward(x);
        if (logits.shape[2] != h || logits.shape[3] != w)
            logits = F.interpolate(logits, [h, w], mode: InterpolationMode.Bilinear, align_corners: false);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Class indices <c>[N, H, W]</c> (int64, 0..11) for images <c>[N, 3, H, W]</c> in [0, 1]: the exact
    /// evaluation path (rounded input, no gradient), argmax of <see cref="Logits"/>. The net's current mode
    /// is used: call <c>eval()</c> first (<see cref="SegmentationNets.FromFile"/> returns the net in eval mode).
    /// </summary>
    public Tensor Predict(Tensor images)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return Logits(images, roundInput: true).argmax(1).MoveToOuterDisposeScope();
    }

    /// <summary>Strict load of a state dict; <paramref name="fileName"/> is named in errors.</summary>
    public virtual void LoadStateDict(IReadOnlyDictionary<string, Tensor> sd, string fileName) => StateDict.Load(this, sd, fileName);

    /// <summary>The <c>licb.*</c> metadata that describes this net (architecture, its size parameters, preprocessing).</summary>
    public virtual Dictionary<string, string> Metadata()
    {
        var meta = new Dictionary<string, string> { ["licb.model"] = Architecture };
        Preprocessing.WriteMetadata(meta);
        return meta;
    }

    /// <summary>Saves the state dict as safetensors, atomically, with <see cref="Metadata"/> and <paramref name="extra"/> entries.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? extra = null)
    {
        var meta = Metadata();
        if (extra is not null) foreach (var (k, v) in extra) meta[k] = v;
        Safetensors.Save(path, state_dict(), meta);
    }
}

/// <summary>
/// A frozen semantic segmentation net g(·) over CamVid's classes, as the downstream attacks (paper Eqs. 11-12) use it:
/// images <c>[N, 3, H, W]</c> in [0, 1] of any size in, per-pixel logits or classes at the same size out.
/// </summary>
public interface ISegmentationNet : IDisposable
{
    /// <summary>A short name for reports (the architecture, e.g. <c>enet-camvid</c>).</summary>
    string Name { get; }

    /// <summary>The weights file the net was loaded from.</summary>
    string Source { get; }

    /// <summary>Logits <c>[N, C, H, W]</c> (channel k = CamVid label k); differentiable with respect to the images.</summary>
    Tensor Logits(Tensor images);

    /// <summary>Class indices <c>[N, H, W]</c> (int64): the exact evaluation path, no gradient.</summary>
    Tensor Predict(Tensor images);
}

/// <summary>Any <see cref="SegmentationNet"/> as an <see cref="ISegmentationNet"/>: frozen (eval mode, no parameter gradients).</summary>
public sealed class FrozenSegmenter : ISegmentationNet
{
    /// <summary>
    /// Loads weights with <see cref="SegmentationNets.FromFile"/>. Nets with the published fixed-size preprocessing (the
    /// published ENet checkpoint) resize to <paramref name="processingSize"/>; nets trained here keep the preprocessing
    /// recorded in their file.
    /// </summary>
    public FrozenSegmenter(string path, int processingSize = ENet.InputSize)
    {
        Net = SegmentationNets.FromFile(path);
        try
        {
            if (Net.Preprocessing.Width is int w && Net.Preprocessing.Height == w && w != processingSize)
                Net.Preprocessing = SegmentationPreprocessing.Published(processingSize);
        }
        catch { Net.Dispose(); throw; }
        SegmentationNets.Freeze(Net);
        Source = path;
    }

    /// <summary>Wraps an existing net (frozen in place).</summary>
    public FrozenSegmenter(SegmentationNet net, string source)
    {
        Net = net;
        SegmentationNets.Freeze(Net);
        Source = source;
    }

    /// <summary>The wrapped net.</summary>
    public SegmentationNet Net { get; }

    public string Name => Net.Architecture;

    public string Source { get; }

    public Tensor Logits(Tensor images) => Net.Logits(images);

    public Tensor Predict(Tensor images) => Net.Predict(images);

    public void Dispose() => Net.Dispose();
}

/// <summary>
/// The segmentation architectures by name, loading any weights file this project reads, and the default weights of the
/// segmentation attack. A safetensors file names its architecture in the metadata key <see cref="ModelKey"/>
/// (<c>enet-camvid</c> when absent); a PyTorch checkpoint is read as ENet. Architectures from elsewhere plug in with
/// <see cref="Register"/>.
/// </summary>
public static class SegmentationNets
{
    /// <summary>The architecture names of <see cref="Create"/> (<c>enet</c>, <c>resnet</c>).</summary>
    public static readonly IReadOnlyList<string> Names = ["enet", "resnet"];

    /// <summary>The safetensors metadata key naming a net's architecture.</summary>
    public const string ModelKey = "licb.model";

    /// <summary>The project's own trained ENet, in the repository's <c>models/</c> (copied beside the program), preferred when present.</summary>
    public const string TrainedWeightsFile = "enet-camvid.safetensors";

    /// <summary>File name of the second segmentation net shipped in <c>models/</c> (SegResNet), used for the transfer ASR.</summary>
    public const string TransferWeightsFile = "segresnet-camvid.safetensors";

    /// <summary>The shipped transfer net (<see cref="TransferWeightsFile"/> beside the program), or null when it is not shipped.</summary>
    public static string? DefaultTransferWeights()
    {
        var path = Path.Combine(ModelStore.EmbeddedFolder, TransferWeightsFile);
        return File.Exists(path) ? path : null;
    }

    /// <summary>The published checkpoint, relative to the data root (barely trained, see downstream-spec A11).</summary>
    public static readonly string[] PublishedWeights = ["models", "enet-camvid", "enet-camvid.pth"];

    private static readonly Dictionary<string, Func<string, int, ISegmentationNet>> Loaders = new(StringComparer.Ordinal)
    {
        [ENet.ModelName] = (path, size) => new FrozenSegmenter(path, size),
        [SegResNet.ModelName] = (path, size) => new FrozenSegmenter(path, size),
    };

    /// <summary>A freshly initialised net of architecture <paramref name="name"/> (<c>enet</c> or <c>resnet</c>) with <paramref name="preprocessing"/>.</summary>
    public static SegmentationNet Create(string name, SegmentationPreprocessing preprocessing, int resnetWidth = SegResNet.DefaultWidth) => name switch
    {
        "enet" => new ENet { Preprocessing = preprocessing },
        "resnet" => new SegResNet(resnetWidth) { Preprocessing = preprocessing },
        _ => throw new ArgumentException($"unknown segmentation architecture '{name}' ({string.Join(", ", Names)})"),
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

    /// <summary>The architecture tag of a weights file: ENet for a PyTorch checkpoint, the <see cref="ModelKey"/> metadata of a safetensors file (ENet when absent).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="CheckpointFormatException">Neither format.</exception>
    public static string Architecture(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: segmentation net weights not found", path);
        if (TorchCheckpoint.IsTorchCheckpoint(path)) return ENet.ModelName;
        var (tensors, meta) = Safetensors.Load(path);
        foreach (var t in tensors.Values) t.Dispose();
        return meta.TryGetValue(ModelKey, out var tag) && tag.Length > 0 ? tag : ENet.ModelName;
    }

    /// <summary>Whether this build has a loader for <paramref name="path"/>'s architecture.</summary>
    public static bool CanLoad(string path)
    {
        var tag = Architecture(path);
        lock (Loaders) return Loaders.ContainsKey(tag);
    }

    /// <summary>Loads a frozen segmentation net; <paramref name="processingSize"/> is the square side the published preprocessing resizes to (512 as published).</summary>
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

    /// <summary>
    /// A net in eval mode with the weights of <paramref name="path"/>: a PyTorch checkpoint in the ENet layout
    /// (the published <c>enet-camvid.pth</c>), or a safetensors file written by <see cref="SegmentationNet.Save"/>
    /// whose <c>licb.model</c> metadata names the architecture (<c>enet-camvid</c> when absent) and whose
    /// <c>licb.input.*</c> metadata gives the preprocessing (the published one when absent).
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is unreadable, names an unknown architecture or does not fit it.</exception>
    public static SegmentationNet FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such weights file", path);
        Dictionary<string, Tensor> sd;
        Dictionary<string, string> meta;
        if (TorchCheckpoint.IsTorchCheckpoint(path)) (sd, meta) = (TorchCheckpoint.LoadStateDict(path), new Dictionary<string, string>());
        else (sd, meta) = Safetensors.Load(path);
        SegmentationNet? net = null;
        try
        {
            string model = meta.GetValueOrDefault("licb.model", ENet.ModelName);
            var pre = SegmentationPreprocessing.FromMetadata(meta, path);
            net = model switch
            {
                ENet.ModelName => new ENet(),
                SegResNet.ModelName => new SegResNet(SegResNet.WidthFromMetadata(meta, path)),
                _ => throw new CheckpointFormatException($"{path}: unknown segmentation architecture '{model}' ({ENet.ModelName}, {SegResNet.ModelName})", path),
            };
            if (pre is not null) net.Preprocessing = pre;
            net.LoadStateDict(sd, path);
            net.eval();
            return net;
        }
        catch (ArgumentException e)
        {
            net?.Dispose();
            throw new CheckpointFormatException($"{path}: {e.Message}", path, e);
        }
        catch
        {
            net?.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
    }
}
