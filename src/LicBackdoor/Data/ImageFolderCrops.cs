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
    public Tensor NextBatch(int batch, SplitMix64 rng)
    {
        using var scope = NewDisposeScope();
        var items = new Tensor[batch];
        for (int b = 0; b < batch; b++)
        {
            var img = train[rng.Next(train.Count)];
            int top = rng.Next((int)img.shape[1] - Crop + 1), left = rng.Next((int)img.shape[2] - Crop + 1);
            var c = img.narrow(1, top, Crop).narrow(2, left, Crop);
            if (rng.NextBool()) c = c.flip(2);
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
