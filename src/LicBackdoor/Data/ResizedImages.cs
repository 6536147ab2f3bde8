using LicBackdoor.Imaging;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Data;

/// <summary>
/// Whole images resized to one size, held in memory as 8-bit tensors and served as batches with random horizontal
/// flips, drawn from a seeded <see cref="SplitMix64"/>. The poisoned-data stream of the downstream objectives: CamVid
/// scenes (the segmentation net sees the whole scene at its usual scale, unlike a random crop) and face crops.
/// </summary>
public sealed class ResizedImages : IDisposable
{
    private readonly List<Tensor> images = new();

    /// <param name="files">Image files (PNG/JPEG).</param>
    /// <param name="width">Width of every served image.</param>
    /// <param name="height">Height of every served image.</param>
    /// <exception cref="ArgumentException">No files, or a non-positive size.</exception>
    public ResizedImages(IReadOnlyList<string> files, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), "image size must be positive");
        if (files.Count == 0) throw new ArgumentException("no training images for a downstream objective", nameof(files));
        Width = width;
        Height = height;
        foreach (var f in files)
        {
            using var scope = NewDisposeScope();
            images.Add(Resize(ImageFile.Load(f), height, width)[0].mul(255).round_().clamp_(0, 255).to_type(ScalarType.Byte).MoveToOuterDisposeScope());
        }
    }

    /// <summary>Width of the served images.</summary>
    public int Width { get; }

    /// <summary>Height of the served images.</summary>
    public int Height { get; }

    /// <summary>Number of images.</summary>
    public int Count => images.Count;

    /// <summary>A batch <c>[B, 3, Height, Width]</c> in [0, 1]: random images, each flipped horizontally at random.</summary>
    public Tensor NextBatch(int batch, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        using var scope = NewDisposeScope();
        var items = new Tensor[batch];
        for (int b = 0; b < batch; b++)
        {
            var img = images[rng.Next(images.Count)];
            items[b] = rng.NextBool() ? img.flip(2) : img;
        }
        return stack(items).to_type(ScalarType.Float32).div_(255).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Resizes <c>[N, C, H, W]</c> to <paramref name="height"/> × <paramref name="width"/>: area averaging when shrinking
    /// both sides (no aliasing), bilinear otherwise; the input itself when the size already fits.
    /// </summary>
    public static Tensor Resize(Tensor x, int height, int width)
    {
        if (x.shape[2] == height && x.shape[3] == width) return x.alias();
        var mode = x.shape[2] >= height && x.shape[3] >= width ? InterpolationMode.Area : InterpolationMode.Bilinear;
        return mode == InterpolationMode.Area
            ? F.interpolate(x, [height, width], mode: mode)
            : F.interpolate(x, [height, width], mode: mode, align_corners: false);
    }

    public void Dispose()
    {
        foreach (var t in images) t.Dispose();
        images.Clear();
    }
}
