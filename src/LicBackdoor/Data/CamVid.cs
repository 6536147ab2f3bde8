using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Data;

/// <summary>One CamVid image with its label map.</summary>
/// <param name="Name">File name without extension (e.g. <c>0001TP_008550</c>).</param>
/// <param name="ImagePath">The RGB image (480 × 360 PNG).</param>
/// <param name="LabelPath">The label map: a grey PNG whose pixel values are class indices 0..11.</param>
public sealed record CamVidSample(string Name, string ImagePath, string LabelPath)
{
    /// <summary>The image as <c>[1, 3, H, W]</c> float32 in [0, 1].</summary>
    public Tensor LoadImage() => ImageFile.Load(ImagePath);

    /// <summary>The label map as <c>[H, W]</c> int64 class indices 0..11 (11 = void).</summary>
    public Tensor LoadLabels() => CamVid.LoadLabels(LabelPath);
}

/// <summary>
/// The CamVid driving scenes in the SegNet 11-class version, read from
/// <c>&lt;data&gt;/camvid/{train,trainannot,test,testannot}</c>: images are 480 × 360 RGB PNGs, labels grey PNGs
/// with the class index as pixel value (see <c>../shared/data/README.md</c>). The downstream data set of the
/// paper's semantic segmentation attack (CamVid standing in for Cityscapes: Car → Road, Tree → Building).
/// </summary>
public sealed class CamVid
{
    /// <summary>The label of unlabelled pixels, ignored when scoring.</summary>
    public const int VoidClass = 11;

    /// <summary>The classes scored (0..10).</summary>
    public const int ScoredClasses = 11;

    /// <summary>Class names by label value (0..11), as in the data README.</summary>
    public static readonly IReadOnlyList<string> ClassNames =
        ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist", "Unlabelled"];

    /// <summary>The SegNet/ENet colour of each label value (0..11), as in the data README.</summary>
    public static readonly IReadOnlyList<(byte R, byte G, byte B)> Palette =
    [
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
        (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 0),
    ];

    private CamVid(string split, string folder, IReadOnlyList<CamVidSample> samples)
    {
        Split = split;
        Folder = folder;
        Samples = samples;
    }

    /// <summary>The split name (<c>train</c> or <c>test</c>).</summary>
    public string Split { get; }

    /// <summary>The <c>camvid</c> folder.</summary>
    public string Folder { get; }

    /// <summary>The images of the split with their label maps, sorted by name.</summary>
    public IReadOnlyList<CamVidSample> Samples { get; }

    /// <summary>
    /// Opens a split from <c>&lt;data&gt;/camvid</c> (the data root resolved by <see cref="DataRoot"/>); every
    /// image must have its label map.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The data folder or the split is missing.</exception>
    /// <exception cref="FileNotFoundException">An image has no label map, or the split is empty.</exception>
    public static CamVid Open(string split = "test", string? dataRoot = null)
    {
        if (split is not ("train" or "test" or "val"))
            throw new ArgumentException($"unknown CamVid split '{split}' (train, test or val)", nameof(split));
        var folder = DataRoot.Folder("camvid", dataRoot);
        var images = Path.Combine(folder, split);
        var labels = Path.Combine(folder, split + "annot");
        if (!Directory.Exists(images)) throw new DirectoryNotFoundException($"{images}: CamVid split '{split}' is missing");
        if (!Directory.Exists(labels)) throw new DirectoryNotFoundException($"{labels}: CamVid labels for '{split}' are missing");
        var samples = new List<CamVidSample>();
        foreach (var image in Directory.GetFiles(images, "*.png").OrderBy(f => f, StringComparer.Ordinal))
        {
            var label = Path.Combine(labels, Path.GetFileName(image));
            if (!File.Exists(label)) throw new FileNotFoundException($"{label}: label map for {image} is missing", label);
            samples.Add(new CamVidSample(Path.GetFileNameWithoutExtension(image), image, label));
        }
        if (samples.Count == 0) throw new FileNotFoundException($"{images}: no PNG images", images);
        return new CamVid(split, folder, samples);
    }

    /// <summary>Reads a label PNG as <c>[H, W]</c> int64 class indices; values above 11 are refused.</summary>
    /// <exception cref="ImageFormatException">Unreadable, or a value is not a CamVid class.</exception>
    public static Tensor LoadLabels(string path)
    {
        using var scope = NewDisposeScope();
        var grey = ImageFile.Load(path, applyExifOrientation: false)[0, 0];
        var labels = grey.mul(KeptScalars.GreyLevels).round().to_type(ScalarType.Int64);
        long max = labels.max().item<long>();
        if (max > VoidClass)
            throw new ImageFormatException(path, $"holds label value {max}; CamVid labels are 0..{VoidClass}");
        return labels.MoveToOuterDisposeScope();
    }

    /// <summary>Colours a class map <c>[H, W]</c> (values 0..11) with <see cref="Palette"/>: interleaved RGB bytes, row by row.</summary>
    public static byte[] Colorize(Tensor classes)
    {
        if (classes.dim() != 2) throw new ArgumentException($"expected a class map [H, W], got [{string.Join(", ", classes.shape)}]", nameof(classes));
        var values = ClassBytes(classes);
        var rgb = new byte[values.Length * 3];
        for (int i = 0; i < values.Length; i++)
        {
            var (r, g, b) = Palette[Math.Min((int)values[i], Palette.Count - 1)];
            rgb[3 * i] = r;
            rgb[3 * i + 1] = g;
            rgb[3 * i + 2] = b;
        }
        return rgb;
    }

    /// <summary>A class map <c>[H, W]</c> (values 0..11) as one byte per pixel, row by row.</summary>
    public static byte[] ClassBytes(Tensor classes)
    {
        if (classes.dim() != 2) throw new ArgumentException($"expected a class map [H, W], got [{string.Join(", ", classes.shape)}]", nameof(classes));
        using var scope = NewDisposeScope();
        var c = classes.detach().cpu().clamp(0, VoidClass).to_type(ScalarType.Byte).contiguous();
        return c.bytes.ToArray();
    }
}
