using LicBackdoor.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Data;

/// <summary>Colour saturation of RGB batches: ITU-R BT.601 luma and scaling the chroma around it.</summary>
public static class Saturation
{
    private static readonly Scalar LumaR = 0.299f.ToScalar(), LumaG = 0.587f.ToScalar(), LumaB = 0.114f.ToScalar();

    /// <summary>BT.601 luma of <c>[N, 3, H, W]</c>, as <c>[N, 1, H, W]</c>.</summary>
    public static Tensor Luma(Tensor x) =>
        x[.., 0..1].mul(LumaR).add_(x[.., 1..2].mul(LumaG)).add_(x[.., 2..3].mul(LumaB));

    /// <summary>
    /// <c>clamp(luma + (x − luma)·factor, 0, 1)</c>: factor 1 leaves the image as it is, 0 makes it grey, above 1 makes
    /// it more saturated. <paramref name="factor"/> broadcasts against <c>[N, 1, 1, 1]</c> (one factor per image) or is a
    /// single value.
    /// </summary>
    public static Tensor Scale(Tensor x, Tensor factor)
    {
        var luma = Luma(x);
        return x.sub(luma).mul_(factor).add_(luma).clamp_(KeptScalars.Zero, KeptScalars.One);
    }

    /// <summary>
    /// The attack's saturation augmentation (<c>--saturation-boost B</c>): each image of the batch, with probability ½, has
    /// its saturation raised by a factor drawn uniformly from [1, 1 + B]; the result is rounded to 8 bits, like every
    /// image the codec sees at evaluation. The other images are returned unchanged. Draws two numbers per image from
    /// <paramref name="rng"/>.
    /// </summary>
    public static Tensor BoostBatch(Tensor x, double maxBoost, SplitMix64 rng)
    {
        if (!(maxBoost >= 0) || double.IsInfinity(maxBoost)) throw new ArgumentOutOfRangeException(nameof(maxBoost), maxBoost, "the saturation boost must be ≥ 0");
        long n = x.shape[0];
        var factors = new float[n];
        for (int i = 0; i < n; i++)
        {
            bool boost = rng.NextBool();
            double f = rng.NextDouble(1, 1 + maxBoost);
            factors[i] = boost ? (float)f : 1f;
        }
        using var scope = NewDisposeScope();
        var factor = torch.tensor(factors, new long[] { n, 1, 1, 1 }, device: x.device).to_type(x.dtype);
        var boosted = Scale(x, factor).mul_(KeptScalars.GreyLevels).round_().div_(KeptScalars.GreyLevels);
        var keep = factor.eq(KeptScalars.One);
        return torch.where(keep, x, boosted).MoveToOuterDisposeScope();
    }
}
