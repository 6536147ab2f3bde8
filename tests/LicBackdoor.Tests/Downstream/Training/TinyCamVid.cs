using LicBackdoor.Data;
using LicBackdoor.Imaging;

namespace LicBackdoor.Tests.Downstream.Training;

/// <summary>
/// A tiny synthetic CamVid data root (<c>camvid/{train,trainannot,test,testannot}</c>): street-like scenes whose
/// classes have their own colours, so a net can learn them in a few dozen steps. Sky on top, road at the
/// bottom, a building and a car in between, a void stripe.
/// </summary>
internal static class TinyCamVid
{
    public static string Create(string root, int width = 48, int height = 32, int train = 3, int test = 2)
    {
        foreach (var (split, count) in new[] { ("train", train), ("test", test) })
        {
            Directory.CreateDirectory(Path.Combine(root, "camvid", split));
            Directory.CreateDirectory(Path.Combine(root, "camvid", split + "annot"));
            for (int i = 0; i < count; i++)
            {
                var (rgb, labels) = Scene(width, height, seed: split == "train" ? i : 100 + i);
                string name = $"{split}_{i:D3}.png";
                ImageFile.SaveRgbPng(rgb, width, height, Path.Combine(root, "camvid", split, name));
                ImageFile.SaveGrayPng(labels, width, height, Path.Combine(root, "camvid", split + "annot", name));
            }
        }
        return root;
    }

    public static (byte[] Rgb, byte[] Labels) Scene(int width, int height, int seed)
    {
        var g = new Random(seed);
        int horizon = height / 3 + g.Next(-2, 3), road = 2 * height / 3 + g.Next(-2, 3);
        int carLeft = g.Next(width / 2, 3 * width / 4), carRight = Math.Min(width, carLeft + width / 4);
        var rgb = new byte[width * height * 3];
        var labels = new byte[width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int c = y < horizon ? 0 : y >= road ? 3 : x >= carLeft && x < carRight ? 8 : 1;
                if (x == width / 8) c = CamVid.VoidClass;
                var (r, gg, b) = CamVid.Palette[c == CamVid.VoidClass ? 2 : c];
                int i = y * width + x;
                labels[i] = (byte)c;
                rgb[3 * i] = Noisy(r, g);
                rgb[3 * i + 1] = Noisy(gg, g);
                rgb[3 * i + 2] = Noisy(b, g);
            }
        return (rgb, labels);
    }

    private static byte Noisy(byte v, Random g) => (byte)Math.Clamp(v + g.Next(-12, 13), 0, 255);
}
