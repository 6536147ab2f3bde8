using LicBackdoor.Evaluation;
using static TorchSharp.torch;

namespace LicBackdoor.Imaging;

/// <summary>
/// Centre crops of images: evaluating a codec or an attack at the scale it was trained at (e.g. the 64x64 training
/// crops of <c>licb attack</c>) instead of on whole Kodak images. <c>licb crop</c> writes them as a folder that
/// <c>licb eval --images</c> and <c>licb attack --eval-folder</c> read.
/// </summary>
public static class CentreCrops
{
    /// <summary>
    /// The centred <paramref name="size"/>x<paramref name="size"/> window of an image [.., C, H, W] (when H − size or
    /// W − size is odd, the extra row or column is left on the bottom or right side).
    /// </summary>
    /// <exception cref="ArgumentException">The image is smaller than the window on either side.</exception>
    public static Tensor Crop(Tensor image, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (image.dim() < 2) throw new ArgumentException("an image needs at least 2 dimensions (H, W)", nameof(image));
        long h = image.shape[^2], w = image.shape[^1];
        if (h < size || w < size)
            throw new ArgumentException($"the {w}x{h} image is smaller than the {size}x{size} crop");
        long top = (h - size) / 2, left = (w - size) / 2;
        return image.narrow(-2, top, size).narrow(-1, left, size);
    }

    /// <summary>
    /// Writes the centre crop of every PNG/JPEG image of <paramref name="inputFolder"/> to <paramref name="outputFolder"/>
    /// (created if needed) as an 8-bit PNG of the same base name; each file is written atomically. Every image is checked
    /// before anything is written, so a folder with an image too small for the crop leaves no partial output.
    /// </summary>
    /// <returns>The files written, in name order.</returns>
    /// <exception cref="ImageFormatException">An input image cannot be decoded (names the file).</exception>
    /// <exception cref="ArgumentException">An image is smaller than the crop (names the file), or two inputs share a base name.</exception>
    public static IReadOnlyList<string> WriteFolder(string inputFolder, string outputFolder, int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var files = CodecEvaluation.ImageFiles(inputFolder);
        var names = files.Select(f => Path.GetFileNameWithoutExtension(f) + ".png").ToList();
        if (names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } clash)
            throw new ArgumentException($"{inputFolder}: several images would be written as {clash.Key} (same base name)");
        var crops = new List<byte[]>(files.Count);
        foreach (var f in files)
        {
            using var scope = NewDisposeScope();
            var x = ImageFile.Load(f);
            Tensor crop;
            try { crop = Crop(x, size); }
            catch (ArgumentException e) { throw new ArgumentException($"{f}: {e.Message}", e); }
            crops.Add(ImageFile.EncodePng(crop));
        }
        Directory.CreateDirectory(outputFolder);
        var written = new List<string>(files.Count);
        for (int i = 0; i < files.Count; i++)
        {
            var path = Path.Combine(outputFolder, names[i]);
            AtomicFile.WriteAllBytes(path, crops[i]);
            written.Add(path);
        }
        return written;
    }
}
