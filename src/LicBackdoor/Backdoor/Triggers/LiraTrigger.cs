using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Triggers;

/// <summary>Options of <see cref="LiraTrigger"/>.</summary>
/// <param name="Epsilon">L∞ bound of the perturbation (paper §4.1: ε = 0.005, "in line with our methods").</param>
/// <param name="WidthMultiplier">Scales every U-Net width (64…1024 at 1.0).</param>
public sealed record LiraTriggerOptions(double Epsilon = LiraTrigger.PaperEpsilon, double WidthMultiplier = 1.0)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when an option is out of range.</summary>
    public void Validate()
    {
        if (!(Epsilon > 0) || double.IsInfinity(Epsilon))
            throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "epsilon must be positive and finite");
        Trigger.CheckMultiplier(WidthMultiplier);
    }
}

/// <summary>
/// The LIRA-style baseline of the paper (§4.1 "Attack Baseline", after Doan et al. 2021):
/// <c>T(x) = x + ε·Normalize(U(x))</c> with U a U-Net and Normalize = tanh (method-spec §2, the authors'
/// <c>U_Net</c>): encoder conv_blocks 3→64→128→256→512→1024 with MaxPool2 between them, decoder
/// up_conv (nearest ×2, Conv3×3, BN, ReLU) + skip concatenation + conv_block back to 64, a 1×1 conv to 3
/// channels, then <c>ε·tanh</c>. So <c>|T(x) − x| ≤ ε</c> everywhere and the stealth penalty is inactive.
/// The U-Net reads x in [0, 1]; sides that are not multiples of 16 are padded (centred, replicate) for U and
/// the perturbation is cropped back. The bottleneck is H/16 × W/16, so a 16×16 single image cannot be run in
/// training mode (BatchNorm needs more than one value per channel).
/// State-dict keys: <c>enc1</c>…<c>enc5</c>, <c>up5</c>…<c>up2</c>, <c>dec5</c>…<c>dec2</c>, <c>head</c>.
/// </summary>
public sealed class LiraTrigger : Trigger
{
    /// <summary>ε of the paper's LIRA baseline (§4.1).</summary>
    public const double PaperEpsilon = 0.005;

    private readonly ConvBlock enc1, enc2, enc3, enc4, enc5, dec5, dec4, dec3, dec2;
    private readonly UpConv up5, up4, up3, up2;
    private readonly Conv2d head;

    /// <summary>Builds the generator with fresh (PyTorch-default) initialisation from the global generator.</summary>
    public LiraTrigger(LiraTriggerOptions? options = null) : base(nameof(LiraTrigger), "lira", 16)
    {
        Options = options ?? new LiraTriggerOptions();
        Options.Validate();
        double m = Options.WidthMultiplier;
        int f1 = Width(64, m), f2 = Width(128, m), f3 = Width(256, m), f4 = Width(512, m), f5 = Width(1024, m);
        enc1 = new ConvBlock(3, f1);
        enc2 = new ConvBlock(f1, f2);
        enc3 = new ConvBlock(f2, f3);
        enc4 = new ConvBlock(f3, f4);
        enc5 = new ConvBlock(f4, f5);
        up5 = new UpConv(f5, f4); dec5 = new ConvBlock(2 * f4, f4);
        up4 = new UpConv(f4, f3); dec4 = new ConvBlock(2 * f3, f3);
        up3 = new UpConv(f3, f2); dec3 = new ConvBlock(2 * f2, f2);
        up2 = new UpConv(f2, f1); dec2 = new ConvBlock(2 * f1, f1);
        head = nn.Conv2d(f1, 3, 1);
        RegisterComponents();
    }

    /// <summary>The options the trigger was built with.</summary>
    public LiraTriggerOptions Options { get; }

    /// <inheritdoc/>
    public override string Configuration => ToJson(Options);

    /// <summary>The bounded perturbation <c>ε·tanh(U(x))</c> on an aligned batch.</summary>
    public Tensor Perturbation(Tensor x)
    {
        using var scope = NewDisposeScope();
        var e1 = enc1.forward(x);
        var e2 = enc2.forward(nn.functional.max_pool2d(e1, 2, 2));
        var e3 = enc3.forward(nn.functional.max_pool2d(e2, 2, 2));
        var e4 = enc4.forward(nn.functional.max_pool2d(e3, 2, 2));
        var e5 = enc5.forward(nn.functional.max_pool2d(e4, 2, 2));
        var d = dec5.forward(cat(new[] { e4, up5.forward(e5) }, 1));
        d = dec4.forward(cat(new[] { e3, up4.forward(d) }, 1));
        d = dec3.forward(cat(new[] { e2, up3.forward(d) }, 1));
        d = dec2.forward(cat(new[] { e1, up2.forward(d) }, 1));
        return head.forward(d).tanh().mul(Options.Epsilon).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override Tensor PoisonAligned(Tensor x)
    {
        using var p = Perturbation(x);
        return x + p;
    }
}
