using static TorchSharp.torch;

namespace LicBackdoor.Tests;

/// <summary>Small deterministic test images: smooth colour gradients and blobs plus a little noise.</summary>
public static class SyntheticImages
{
    public static Tensor Smooth(int height, int width, int batch = 1, int seed = 7)
    {
        var g = new Random(seed);
        var data = new float[batch * 3 * height * width];
        int k = 0;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < 3; c++)
            {
                double fx = 1 + g.NextDouble() * 3, fy = 1 + g.NextDouble() * 3, ph = g.NextDouble() * 6;
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                    {
                        double v = 0.5 + 0.3 * Math.Sin(fx * x / width * Math.PI * 2 + ph) * Math.Cos(fy * y / height * Math.PI * 2)
                                   + 0.05 * (g.NextDouble() - 0.5);
                        data[k++] = (float)Math.Clamp(v, 0, 1);
                    }
            }
        return tensor(data, new long[] { batch, 3, height, width });
    }
}
