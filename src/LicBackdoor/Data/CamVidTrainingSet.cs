using LicBackdoor.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Data;

/// <summary>The augmentation of <see cref="CamVidTrainingSet.NextBatch"/>.</summary>
/// <param name="CropWidth">Width of the crops fed to the net.</param>
/// <param name="CropHeight">Height of the crops.</param>
/// <param name="ScaleMin">Smallest random scale of the whole image before cropping.</param>
/// <param name="ScaleMax">Largest random scale (uniform in [min, max]).</param>
/// <param name="Jitter">Colour jitter strength j: brightness, contrast and saturation factors uniform in [1 − j, 1 + j] (0: off).</param>
/// <param name="Flip">Random horizontal flips.</param>
public sealed record SegmentationAugmentation(int CropWidth, int CropHeight, double ScaleMin, double ScaleMax, double Jitter, bool Flip = true)
{
    /// <summary>Checks the values; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (CropWidth < 8 || CropHeight < 8) throw new ArgumentException($"crop {CropWidth}x{CropHeight} must be at least 8x8");
        if (!(ScaleMin > 0) || !(ScaleMax >= ScaleMin) || ScaleMax > 4) throw new ArgumentException($"scale range [{ScaleMin}, {ScaleMax}] must satisfy 0 < min <= max <= 4");
        if (!(Jitter >= 0 && Jitter < 1)) throw new ArgumentException($"colour jitter {Jitter} must be in [0, 1)");
    }
}

/// <summary>
/// The CamVid training split in memory (images and label maps as bytes), served as augmented batches: each
/// sample is one image rescaled by a random factor (bilinear for the image, nearest for the labels), randomly
/// cropped (padded with black and void where the scaled image is smaller than the crop), randomly flipped
/// horizontally, and colour-jittered (brightness, contrast, saturation). Every random draw comes from a
/// seeded <see cref="SplitMix64"/>, so a resumed run sees the same batches.
/// </summary>
public sealed class CamVidTrainingSet : IDisposable
{
    private readonly List<(Tensor Image, Tensor Labels)> items = new();

    /// <summary>Loads every sample of <paramref name="data"/>; an image and its label map must have the same size.</summary>
    /// <exception cref="ArgumentException">A label map's size differs from its image's (the message names both files).</exception>
    public CamVidTrainingSet(CamVid data)
    {
        Split = data.Split;
        var histogram = new long[CamVid.VoidClass + 1];
        foreach (var s in data.Samples)
        {
            using var scope = NewDisposeScope();
            var image = s.LoadImage();
            var labels = s.LoadLabels();
            if (image.shape[2] != labels.shape[0] || image.shape[3] != labels.shape[1])
                throw new ArgumentException($"{s.LabelPath}: labels are {labels.shape[1]}x{labels.shape[0]} but the image {s.ImagePath} is {image.shape[3]}x{image.shape[2]}");
            var counts = bincount(labels.flatten(), minlength: histogram.Length).data<long>().ToArray();
            for (int c = 0; c < histogram.Length; c++) histogram[c] += counts[c];
            items.Add((image[0].mul(KeptScalars.GreyLevels).round_().to_type(ScalarType.Byte).MoveToOuterDisposeScope(),
                       labels.to_type(ScalarType.Byte).MoveToOuterDisposeScope()));
        }
        Histogram = histogram;
    }

    /// <summary>The split the samples come from.</summary>
    public string Split { get; }

    /// <summary>Number of images.</summary>
    public int Count => items.Count;

    /// <summary>Pixels per label value 0..11 over the whole split.</summary>
    public IReadOnlyList<long> Histogram { get; }

    /// <summary>
    /// A batch of augmented samples: images <c>[B, 3, cropH, cropW]</c> in [0, 1] and labels
    /// <c>[B, cropH, cropW]</c> int64 (11 = void, also for padding).
    /// </summary>
    public (Tensor Images, Tensor Labels) NextBatch(int batch, SegmentationAugmentation aug, SplitMix64 rng)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        using var scope = NewDisposeScope();
        var images = new Tensor[batch];
        var labels = new Tensor[batch];
        for (int b = 0; b < batch; b++)
            (images[b], labels[b]) = Sample(items[rng.Next(items.Count)], aug, rng);
        var x = stack(images);
        var y = stack(labels);
        return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    private static (Tensor Image, Tensor Labels) Sample((Tensor Image, Tensor Labels) item, SegmentationAugmentation aug, SplitMix64 rng)
    {
        long h = item.Image.shape[1], w = item.Image.shape[2];
        double scale = aug.ScaleMin == aug.ScaleMax ? aug.ScaleMin : rng.NextDouble(aug.ScaleMin, aug.ScaleMax);
        long sh = Math.Max(1, (long)Math.Round(h * scale)), sw = Math.Max(1, (long)Math.Round(w * scale));
        var x = item.Image.to_type(ScalarType.Float32).div_(KeptScalars.GreyLevels).unsqueeze(0);
        var y = item.Labels.unsqueeze(0).unsqueeze(0).to_type(ScalarType.Float32);
        if (sh != h || sw != w)
        {
            x = F.interpolate(x, [sh, sw], mode: InterpolationMode.Bilinear, align_corners: false).clamp_(KeptScalars.Zero, KeptScalars.One);
            y = F.interpolate(y, [sh, sw], mode: InterpolationMode.Nearest);
        }
        long ch = aug.CropHeight, cw = aug.CropWidth;
        if (sh < ch || sw < cw)
        {
            long ph = Math.Max(0, ch - sh), pw = Math.Max(0, cw - sw);
            x = F.pad(x, [0, pw, 0, ph], value: 0);
            y = F.pad(y, [0, pw, 0, ph], value: CamVid.VoidClass);
            sh += ph;
            sw += pw;
        }
        int top = rng.Next((int)(sh - ch + 1)), left = rng.Next((int)(sw - cw + 1));
        x = x.narrow(2, top, ch).narrow(3, left, cw);
        y = y.narrow(2, top, ch).narrow(3, left, cw);
        if (aug.Flip && rng.NextBool())
        {
            x = x.flip(3);
            y = y.flip(3);
        }
        if (aug.Jitter > 0)
        {
            double j = aug.Jitter;
            double brightness = rng.NextDouble(1 - j, 1 + j), contrast = rng.NextDouble(1 - j, 1 + j), saturation = rng.NextDouble(1 - j, 1 + j);
            using var b = ((float)brightness).ToScalar();
            using var c = ((float)contrast).ToScalar();
            x = x * b;
            var grey = Saturation.Luma(x);
            x = (x - grey.mean()) * c + grey.mean();
            x = Saturation.Scale(x, torch.tensor((float)saturation));
        }
        return (x[0].contiguous(), y[0, 0].to_type(ScalarType.Int64));
    }

    public void Dispose()
    {
        foreach (var (x, y) in items) { x.Dispose(); y.Dispose(); }
        items.Clear();
    }
}
