using System.Text.Json;
using System.Text.Json.Serialization;
using LicBackdoor.Imaging;
using Padding = LicBackdoor.Imaging.Padding;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Triggers;

/// <summary>
/// Base of the triggers: checks the input, pads H and W to a multiple of <see cref="BlockMultiple"/>, calls
/// <see cref="PoisonAligned"/> and crops back. The padding is centred (as CompressAI's and the authors'
/// <c>pad_to</c>) but replicates the border pixels instead of the authors' zeros, so the trigger networks see
/// no artificial black border; the crop removes the padded pixels again, so the choice only affects what the
/// networks see near the border of images whose sides are not multiples of the block size.
/// </summary>
public abstract class Trigger : nn.Module<Tensor, Tensor>, ITrigger
{
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    protected Trigger(string moduleName, string name, int blockMultiple) : base(moduleName)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockMultiple, 1);
        Name = name;
        BlockMultiple = blockMultiple;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>H and W are padded to a multiple of this before <see cref="PoisonAligned"/>.</summary>
    public int BlockMultiple { get; }

    /// <inheritdoc/>
    public abstract string Configuration { get; }

    /// <inheritdoc/>
    public nn.Module<Tensor, Tensor> Module => this;

    /// <inheritdoc/>
    public sealed override Tensor forward(Tensor x)
    {
        CheckInput(x);
        if (MseBudget is not double budget) return PoisonAnySize(x);
        using var scope = NewDisposeScope();
        var y = PoisonAnySize(x);
        var delta = y - x;
        var mse = (delta * delta).mean([1, 2, 3], keepdim: true);
        // The floor keeps the rescaling (and its gradient) bounded for a near-zero perturbation: at most ×100.
        var scale = (budget / mse.clamp_min(budget * 1e-4)).sqrt();
        if (!FixedEnergy) scale = scale.clamp_max(1.0);
        return (x + delta * scale).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The trigger on a checked batch of any size: by default pads to <see cref="BlockMultiple"/>, calls
    /// <see cref="PoisonAligned"/> and crops back.
    /// </summary>
    protected virtual Tensor PoisonAnySize(Tensor x)
    {
        var pad = PadFor(x);
        if (pad.IsEmpty) return PoisonAligned(x);
        using var scope = NewDisposeScope();
        var padded = PadReplicate(x, pad);
        return Padding.Crop(PoisonAligned(padded), pad).contiguous().MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, bool clamp)
    {
        var y = forward(x);
        if (!clamp) return y;
        using (y) return y.clamp(0, 1);
    }

    /// <inheritdoc/>
    public bool FixedEnergy { get; set; }

    /// <inheritdoc/>
    public double? MseBudget
    {
        get => mseBudget;
        set
        {
            if (value is double v && !(v > 0 && double.IsFinite(v))) throw new ArgumentOutOfRangeException(nameof(value), v, "the MSE budget must be positive and finite");
            mseBudget = value;
        }
    }

    private double? mseBudget;

    /// <summary>The centred padding that brings <paramref name="x"/> to a multiple of <see cref="BlockMultiple"/>.</summary>
    public PadSpec PadFor(Tensor x) => Padding.Compute((int)x.shape[2], (int)x.shape[3], BlockMultiple);

    /// <summary>Centred replicate padding by <paramref name="pad"/> (see the class remarks).</summary>
    public static Tensor PadReplicate(Tensor x, PadSpec pad) =>
        pad.IsEmpty ? x.alias() : nn.functional.pad(x, new long[] { pad.Left, pad.Right, pad.Top, pad.Bottom }, PaddingModes.Replicate);

    /// <summary>The trigger on a batch whose H and W are multiples of <see cref="BlockMultiple"/>.</summary>
    protected abstract Tensor PoisonAligned(Tensor x);

    /// <summary>Serialises an options record for <see cref="Configuration"/>.</summary>
    protected static string ToJson<T>(T options) => JsonSerializer.Serialize(options, Json);

    /// <summary>Scales a channel count by a width multiplier as the authors' <c>int(c * multiplier)</c>, at least 1.</summary>
    internal static int Width(int channels, double multiplier) => Math.Max(1, (int)Math.Floor(channels * multiplier + 1e-9));

    internal static void CheckMultiplier(double multiplier)
    {
        if (!(multiplier > 0) || double.IsInfinity(multiplier))
            throw new ArgumentOutOfRangeException(nameof(multiplier), multiplier, "the width multiplier must be positive and finite");
    }

    private static void CheckInput(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4 || x.shape[1] != 3 || x.shape[0] < 1 || x.shape[2] < 1 || x.shape[3] < 1)
            throw new ArgumentException($"a trigger takes an RGB batch [N,3,H,W], got [{string.Join(", ", x.shape)}]", nameof(x));
        if (!x.is_floating_point())
            throw new ArgumentException($"a trigger takes floating-point pixels in [0, 1], got {x.dtype}", nameof(x));
    }
}
