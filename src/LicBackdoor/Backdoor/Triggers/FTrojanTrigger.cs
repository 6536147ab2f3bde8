using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Triggers;

/// <summary>A coefficient position (row u, column v) inside a DCT block.</summary>
public readonly record struct DctPosition(int Row, int Column);

/// <summary>
/// Options of <see cref="FTrojanTrigger"/>; the defaults are the official FTrojan settings (method-spec §3:
/// <c>window_size = 32</c>, <c>channel_list = [1, 2]</c>, <c>pos_list = [(31,31), (15,15)]</c>) with the magnitude
/// replaced by the paper's MSE budget ε² = 0.005² (Eq. 3), so the baseline is exactly as visible as the others.
/// </summary>
/// <param name="BlockSize">DCT block size.</param>
/// <param name="MseBudget">Pixel MSE (on [0,1] pixels, before any clamping) the trigger adds to every image.</param>
public sealed record FTrojanTriggerOptions(int BlockSize = 32, double MseBudget = FTrojanTrigger.DefaultMseBudget)
{
    /// <summary>Triggered coefficients of every block (default: the mid (15,15) and high (31,31) frequencies).</summary>
    public IReadOnlyList<DctPosition> Positions { get; init; } = [new(15, 15), new(31, 31)];

    /// <summary>YCbCr channels carrying the trigger (default: the two chroma channels, 1 = Cb and 2 = Cr).</summary>
    public IReadOnlyList<int> Channels { get; init; } = [1, 2];

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when an option is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(BlockSize, 1);
        if (!(MseBudget > 0) || double.IsInfinity(MseBudget))
            throw new ArgumentOutOfRangeException(nameof(MseBudget), MseBudget, "the MSE budget must be positive and finite");
        if (Positions.Count == 0 || Positions.Any(p => p.Row < 0 || p.Column < 0 || p.Row >= BlockSize || p.Column >= BlockSize))
            throw new ArgumentOutOfRangeException(nameof(Positions), $"positions must be non-empty and inside a {BlockSize}x{BlockSize} block");
        if (Channels.Count == 0 || Channels.Any(c => c < 0 || c > 2) || Channels.Distinct().Count() != Channels.Count)
            throw new ArgumentOutOfRangeException(nameof(Channels), "channels must be distinct YCbCr channels 0..2");
    }
}

/// <summary>
/// The FTrojan baseline (Wang et al. 2022; compared in the paper's supplement; method-spec §3): a fixed trigger
/// that adds the same magnitude m to fixed DCT coefficients of the chroma channels of every 32×32 block in
/// YCbCr. Because DCT, colour conversion and the addition are linear, this is a fixed additive pixel pattern:
/// <c>T(x) = x + P</c>, P tiled over the image. m is chosen once so that the pattern's pixel MSE equals
/// <see cref="FTrojanTriggerOptions.MseBudget"/> (default ε² = 2.5e-5) on images whose sides are multiples of the
/// block size. On other sizes the tiling is centred and cut at the border, and the cut pattern is rescaled so its
/// MSE is still exactly the budget (uncorrected, a 20×37 image would get 1.36 ε²). Clamping in
/// <see cref="Trigger.Apply"/> can only lower the MSE. In an orthonormal DCT (FTrojan's <c>cv2.dct</c>) the default
/// magnitude is about 20.0, the official FTrojan value. No
/// learnable parameters and an empty state dict; DCT convention as <see cref="BlockDct"/> (unnormalised).
/// </summary>
public sealed class FTrojanTrigger : Trigger
{
    /// <summary>ε² with the paper's ε = 0.005 (Eq. 3).</summary>
    public const double DefaultMseBudget = StealthPenalty.PaperEpsilon * StealthPenalty.PaperEpsilon;

    private readonly Tensor pattern;

    /// <summary>Builds the trigger and its fixed pattern.</summary>
    public FTrojanTrigger(FTrojanTriggerOptions? options = null) : base(nameof(FTrojanTrigger), "ftrojan", (options ?? new FTrojanTriggerOptions()).BlockSize)
    {
        Options = options ?? new FTrojanTriggerOptions();
        Options.Validate();
        int b = Options.BlockSize;
        using (var scope = NewDisposeScope())
        {
            var coeffs = zeros(1, 3, b, b, dtype: ScalarType.Float64);
            foreach (var c in Options.Channels)
                foreach (var p in Options.Positions)
                    coeffs[0, c, p.Row, p.Column] = tensor(1.0, ScalarType.Float64);
            var unit = YCbCr.DifferenceToRgb(BlockDct.Inverse(coeffs, b)).div_(255);  // pixel change per unit magnitude
            double unitMse = (unit * unit).mean().item<double>();
            Magnitude = Math.Sqrt(Options.MseBudget / unitMse);
            pattern = unit.mul(Magnitude).to_type(ScalarType.Float32).DetachFromDisposeScope();
        }
        register_buffer("pattern", pattern, persistent: false);
    }

    /// <summary>The options the trigger was built with.</summary>
    public FTrojanTriggerOptions Options { get; }

    /// <summary>The magnitude m added to each triggered coefficient, in <see cref="BlockDct"/>'s unnormalised convention on 0..255 YCbCr.</summary>
    public double Magnitude { get; }

    /// <summary>The pixel pattern of one block, <c>[1,3,b,b]</c> on [0,1] pixels.</summary>
    public Tensor Pattern => pattern;

    /// <inheritdoc/>
    public override string Configuration => ToJson(Options);

    /// <summary>
    /// The additive pixel pattern for an image of <paramref name="height"/> × <paramref name="width"/>, <c>[1,3,H,W]</c>:
    /// the block pattern tiled over the centred padded grid and cut to the image; when cut, it is rescaled so that its
    /// MSE is still exactly the budget.
    /// </summary>
    public Tensor PatternFor(long height, long width, ScalarType dtype = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        var pad = Imaging.Padding.Compute((int)height, (int)width, BlockMultiple);
        long hp = height + pad.Top + pad.Bottom, wp = width + pad.Left + pad.Right;
        var p = pattern.to_type(ScalarType.Float64).repeat(1, 1, hp / BlockMultiple, wp / BlockMultiple);
        if (!pad.IsEmpty)
        {
            p = Imaging.Padding.Crop(p, pad);
            p = p.mul(Math.Sqrt(Options.MseBudget / (p * p).mean().item<double>()));
        }
        return p.to_type(dtype).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override Tensor PoisonAnySize(Tensor x)
    {
        using var p = PatternFor(x.shape[2], x.shape[3], x.dtype);
        return x + p;
    }

    /// <inheritdoc/>
    protected override Tensor PoisonAligned(Tensor x) => PoisonAnySize(x);
}
