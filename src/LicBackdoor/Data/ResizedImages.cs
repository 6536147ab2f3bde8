using LicBackdoor.Imaging;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Data;

/// <summary>
/// Whole images resized to one size, held in memory as 8-bit tensors and served as batches with random horizontal
/// flips, drawn from a seeded <see cref="SplitMix64"/>. The poisoned-data stream of the downstream objectives: CamVid
/// scenes (the segmentation net sees the whole scene at its usual scale, unlike a random crop) and face crops.
/// With a zoom range (<see cref="MinZoom"/> &lt; 1) each served image is instead a random square-ish window covering
/// a fraction in [MinZoom, 1] of each side of the original, resized to the served size: the same content at several
/// scales and positions (used for the few face crops, which the encoder otherwise memorises).
/// </summary>
public sealed class ResizedImages : IDisposable
{
    private readonly List<Tensor> images = new();

    /// <param name="files">Image files (PNG/JPEG).</param>
    /// <param name="width">Width of every served image.</param>
    /// <param name="height">Height of every served image.</param>
    /// <param name="minZoom">Smallest fraction of each side a served window covers (1: the whole image, resized once).</param>
    /// <exception cref="ArgumentException">No files, a non-positive size or a zoom outside (0, 1].</exception>
    public ResizedImages(IReadOnlyList<string> files, int width, int height, double minZoom = 1)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), "image size must be positive");
        if (!(minZoom > 0 && minZoom <= 1)) throw new ArgumentOutOfRangeException(nameof(minZoom), $"the zoom range must lie in (0, 1], got {minZoom}");
        if (files.Count == 0) throw new ArgumentException("no training images for a downstream objective", nameof(files));
        Width = width;
        Height = height;
        MinZoom = minZoom;
        foreach (var f in files)
        {
            using var scope = NewDisposeScope();
            var x = ImageFile.Load(f);
            // Zoomed windows are cut from the original (resized per sample); otherwise resize once here.
            if (minZoom == 1) x = Resize(x, height, width);
            images.Add(x[0].mul(255).round_().clamp_(0, 255).to_type(ScalarType.Byte).MoveToOuterDisposeScope());
        }
    }

    /// <summary>Smallest fraction of each side a served window covers (1: whole images).</summary>
    public double MinZoom { get; }

    /// <summary>Width of the served images.</summary>
    public int Width { get; }

    /// <summary>Height of the served images.</summary>
    public int Height { get; }

    /// <summary>Number of images.</summary>
    public int Count => images.Count;

    /// <summary>
    /// A batch <c>[B, 3, Height, Width]</c> in [0, 1]: random images (random windows when zooming), each flipped
    /// horizontally at random.
    /// </summary>
    public Tensor NextBatch(int batch, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        using var scope = NewDisposeScope();
        var items = new Tensor[batch];
        for (int b = 0; b < batch; b++)
        {
            var img = images[rng.Next(images.Count)];
            if (MinZoom < 1) img = Window(img, rng);
            items[b] = rng.NextBool() ? img.flip(2) : img;
        }
        return stack(items).to_type(ScalarType.Float32).div_(255).MoveToOuterDisposeScope();
    }

    /// <summary>A random window of <paramref name="img"/> (one zoom for both sides), resized to the served size, 8-bit.</summary>
    private Tensor Window(Tensor img, SplitMix64 rng)
    {
        int h = (int)img.shape[1], w = (int)img.shape[2];
        double zoom = rng.NextDouble(MinZoom, 1);
        int wh = Math.Max(1, (int)Math.Round(h * zoom)), ww = Math.Max(1, (int)Math.Round(w * zoom));
        int top = rng.Next(h - wh + 1), left = rng.Next(w - ww + 1);
        var window = img.narrow(1, top, wh).narrow(2, left, ww).unsqueeze(0).to_type(ScalarType.Float32);
        return Resize(window, Height, Width)[0].round_().clamp_(0, 255).to_type(ScalarType.Byte);
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
