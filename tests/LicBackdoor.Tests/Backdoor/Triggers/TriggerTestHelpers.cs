using LicBackdoor.Backdoor.Triggers;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Triggers;

internal static class TriggerTestHelpers
{
    /// <summary>Width multiplier of the tiny test triggers (4/8 channels in g, 4…32 in w).</summary>
    public const double Tiny = 1.0 / 16;

    public static FrequencyTrigger TinyFrequency(int k = 16, int nf = 64, bool topK = true, bool patchWeight = true,
        FrequencySet set = FrequencySet.AsImplemented) =>
        new(new FrequencyTriggerOptions(k, nf, topK, patchWeight, Tiny, set));

    /// <summary>The raster positions (16·u + v) where a [16,16] slice is non-zero.</summary>
    public static SortedSet<int> NonZero(Tensor block16)
    {
        var a = block16.detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        return new SortedSet<int>(Enumerable.Range(0, 256).Where(p => a[p] != 0));
    }

    /// <summary>Per position, the largest |t| over all blocks of one image and channel: [N,3,Hp,Wp] → [N,3,16,16].</summary>
    public static Tensor MaxOverBlocks(Tensor coefficients) =>
        LicBackdoor.Imaging.BlockDct.Blockify(coefficients.abs()).max(2).values;

    public static Tensor Parameter(nn.Module module, string name) =>
        module.named_parameters().Single(p => p.name == name).parameter;
}
