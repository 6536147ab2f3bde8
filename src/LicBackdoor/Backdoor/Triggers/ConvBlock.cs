using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Triggers;

/// <summary>
/// The authors' <c>conv_block(cin, cout)</c> (method-spec §1.2): Conv3×3 (padding 1, bias) → BatchNorm2d → ReLU →
/// Conv3×3 → BatchNorm2d → ReLU. Keys: <c>conv1</c>, <c>bn1</c>, <c>conv2</c>, <c>bn2</c>.
/// </summary>
internal sealed class ConvBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly BatchNorm2d bn1, bn2;

    public ConvBlock(int inCh, int outCh) : base(nameof(ConvBlock))
    {
        conv1 = nn.Conv2d(inCh, outCh, 3, 1, 1);
        bn1 = nn.BatchNorm2d(outCh);
        conv2 = nn.Conv2d(outCh, outCh, 3, 1, 1);
        bn2 = nn.BatchNorm2d(outCh);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(bn1.forward(conv1.forward(x)));
        return nn.functional.relu(bn2.forward(conv2.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The U-Net's <c>up_conv(cin, cout)</c> (method-spec §2): nearest Upsample ×2 → Conv3×3 → BatchNorm2d → ReLU.
/// Keys: <c>conv</c>, <c>bn</c>.
/// </summary>
internal sealed class UpConv : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;

    public UpConv(int inCh, int outCh) : base(nameof(UpConv))
    {
        conv = nn.Conv2d(inCh, outCh, 3, 1, 1);
        bn = nn.BatchNorm2d(outCh);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var up = nn.functional.interpolate(x, scale_factor: new[] { 2.0, 2.0 }, mode: InterpolationMode.Nearest);
        return nn.functional.relu(bn.forward(conv.forward(up))).MoveToOuterDisposeScope();
    }
}
