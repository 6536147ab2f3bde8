using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Data;

/// <summary>
/// Training images from one or more folders, held in memory as 8-bit tensors, served as batches of random
/// crops with random horizontal flips (CompressAI's RandomCrop + a flip), drawn from a seeded
/// <see cref="SplitMix64"/> so a resumed run sees the same batches. A few images can be held out for
/// validation (centre crops).
/// </summary>
public sealed class ImageFolderCrops : IDisposable
{
    private readonly List<Tensor> train = new();
    private readonly List<Tensor> validation = new();

    /// <param name="folders">Folders of PNG/JPEG images.</param>
    /// <param name="crop">Crop side in pixels; smaller images are skipped.</param>
    /// <param name="validationImages">How many images (every k-th, deterministically) to hold out.</param>
    public ImageFolderCrops(IEnumerable<string> folders, int crop, int validationImages = 4)
    {
        if (crop < 16) throw new ArgumentOutOfRangeException(nameof(crop), "crop must be at least 16 pixels");
        Crop = crop;
        var files = folders.SelectMany(f => Evaluation.CodecEvaluation.ImageFiles(f)).ToList();
        var usable = new List<Tensor>();
        foreach (var f in files)
        {
            using var scope = NewDisposeScope();
            var x = ImageFile.Load(f);
            if (x.shape[2] < crop || x.shape[3] < crop) continue;
            usable.Add(x[0].mul(255).round_().to_type(ScalarType.Byte).MoveToOuterDisposeScope());
        }
        if (usable.Count < validationImages + 1)
            throw new ArgumentException($"need at least {validationImages + 1} images of at least {crop}x{crop} pixels, found {usable.Count}");
        int step = validationImages == 0 ? int.MaxValue : usable.Count / validationImages;
        for (int i = 0; i < usable.Count; i++)
            (validationImages > 0 && i % step == step - 1 && validation.Count < validationImages ? validation : train).Add(usable[i]);
        Files = files.Count;
    }

    public int Crop { get; }
    public int Files { get; }
    public int TrainCount => train.Count;
    public int ValidationCount => validation.Count;

    /// <summary>A batch [B,3,crop,crop] in [0,1] of random crops with random horizontal flips.</summary>
    public Tensor NextBatch(int batch, SplitMix64 rng) => NextBatch(batch, rng, CropAugmentation.None);

    /// <summary>
    /// A batch [B,3,crop,crop] in [0,1] of random crops with random horizontal flips and, per
    /// <paramref name="augmentation"/>, a random downscale (a square of side crop/s, s uniform in [MinScale, 1],
    /// area-averaged to crop×crop and rounded to 8 bits) and a random rotation by a multiple of 90°. Every draw
    /// comes from <paramref name="rng"/>; with <see cref="CropAugmentation.None"/> the draws and batches are
    /// those of the plain crops.
    /// </summary>
    public Tensor NextBatch(int batch, SplitMix64 rng, CropAugmentation augmentation)
    {
        using var scope = NewDisposeScope();
        var items = new Tensor[batch];
        for (int b = 0; b < batch; b++)
        {
            var img = train[rng.Next(train.Count)];
            int h = (int)img.shape[1], w = (int)img.shape[2];
            int side = Crop;
            if (augmentation.MinScale < 1)
            {
                double scale = rng.NextDouble(augmentation.MinScale, 1);
                side = Math.Min((int)Math.Round(Crop / scale), Math.Min(h, w));
            }
            int top = rng.Next(h - side + 1), left = rng.Next(w - side + 1);
            var c = img.narrow(1, top, side).narrow(2, left, side);
            if (rng.NextBool()) c = c.flip(2);
            if (side != Crop)
                c = nn.functional.interpolate(c.unsqueeze(0).to_type(ScalarType.Float32), [Crop, Crop], mode: InterpolationMode.Area)[0]
                    .round_().clamp_(0, 255).to_type(ScalarType.Byte);
            if (augmentation.Rotate)
            {
                int quarterTurns = rng.Next(4);
                if (quarterTurns > 0) c = c.rot90(quarterTurns, (1, 2));
            }
            items[b] = c;
        }
        return torch.stack(items).to_type(ScalarType.Float32).div_(255).MoveToOuterDisposeScope();
    }

    /// <summary>Centre crops of the held-out images, [V,3,crop,crop].</summary>
    public Tensor ValidationBatch()
    {
        if (validation.Count == 0) throw new InvalidOperationException("no validation images were held out");
        using var scope = NewDisposeScope();
        var items = validation.Select(img =>
            img.narrow(1, ((int)img.shape[1] - Crop) / 2, Crop).narrow(2, ((int)img.shape[2] - Crop) / 2, Crop)).ToArray();
        return torch.stack(items).to_type(ScalarType.Float32).div_(255).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in train.Concat(validation)) t.Dispose();
        train.Clear(); validation.Clear();
    }
}

/// <summary>
/// Extra augmentation of training crops beyond CompressAI's crop + horizontal flip: a random downscale factor
/// in [<see cref="MinScale"/>, 1] (1: none) and random rotations by multiples of 90°. More distinct crops out of a
/// small image folder (the 45 training photos).
/// </summary>
public sealed record CropAugmentation(double MinScale = 1, bool Rotate = false)
{
    public static readonly CropAugmentation None = new();

    /// <summary>Throws when <see cref="MinScale"/> is outside (0, 1].</summary>
    public void Validate()
    {
        if (!(MinScale > 0 && MinScale <= 1)) throw new ArgumentException($"the smallest downscale factor must be in (0, 1], got {MinScale}");
    }
}
