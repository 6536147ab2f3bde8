using System.Globalization;
using LicBackdoor.Weights;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Downstream;

/// <summary>
/// A second CamVid segmentation architecture, deliberately unlike <see cref="ENet"/>: a small ResNet-18-style
/// encoder (He et al. 2016: a stride-2 3 × 3 stem, then four stages of two BasicBlocks, each stage halving the
/// resolution, output stride 32) and a light U-Net/FPN-style decoder (1 × 1 lateral projections of the stage
/// outputs, top-down bilinear upsampling to each skip's exact size, a 3 × 3 conv-BN-ReLU after each fusion),
/// with the classifier at 1/4 resolution and bilinear upsampling to the input size. Used only at evaluation
/// time, to measure how the segmentation attack transfers to a net it was not trained against.
/// </summary>
/// <remarks>
/// Input <c>[N, 3, H, W]</c> of any size ≥ 1, normalised as its <see cref="SegmentationNet.Preprocessing"/>
/// says (ImageNet mean/std for the nets trained here); output logits <c>[N, 12, H, W]</c>. Widths with
/// <c>width = w</c>: stem w, stages 1.5w, 3w, 5w, 8w, decoder 2w (the default w = 32 gives 48/96/160/256 and a
/// 64-channel decoder, 3.5 M parameters). Convolutions use He-normal (fan-out) initialisation, and each
/// block's last BatchNorm starts at γ = 0 so every residual block starts as the identity (Goyal et al. 2017).
/// </remarks>
public sealed class SegResNet : SegmentationNet
{
    /// <summary>The <c>licb.model</c> name of SegResNet weights.</summary>
    public const string ModelName = "segresnet-camvid";

    /// <summary>The default base width w.</summary>
    public const int DefaultWidth = 32;

    private readonly Sequential stem;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly Conv2d lateral1, lateral2, lateral3, lateral4;
    private readonly Sequential fuse3, fuse2, fuse1;
    private readonly Conv2d classifier;

    /// <summary>A fresh net of base width <paramref name="width"/> (seed the global generator for determinism).</summary>
    public SegResNet(int width = DefaultWidth) : base(nameof(SegResNet), SegmentationPreprocessing.Normalized(1, 1))
    {
        if (width < 4 || width > 256) throw new ArgumentOutOfRangeException(nameof(width), width, "width must be 4..256");
        Width = width;
        int c0 = width, c1 = width * 3 / 2, c2 = width * 3, c3 = width * 5, c4 = width * 8, d = width * 2;
        stem = ConvBnRelu(3, c0, stride: 2);
        layer1 = Stage(c0, c1);
        layer2 = Stage(c1, c2);
        layer3 = Stage(c2, c3);
        layer4 = Stage(c3, c4);
        lateral1 = nn.Conv2d(c1, d, 1);
        lateral2 = nn.Conv2d(c2, d, 1);
        lateral3 = nn.Conv2d(c3, d, 1);
        lateral4 = nn.Conv2d(c4, d, 1);
        fuse3 = ConvBnRelu(d, d);
        fuse2 = ConvBnRelu(d, d);
        fuse1 = ConvBnRelu(d, d);
        classifier = nn.Conv2d(d, NumClasses, 1);
        RegisterComponents();
        using var _ = no_grad();
        foreach (var (name, m) in named_modules())
        {
            if (m is Conv2d conv && !ReferenceEquals(conv, classifier))
                nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
            if (m is BatchNorm2d bn && name.EndsWith(".bn2", StringComparison.Ordinal)) nn.init.zeros_(bn.weight);
        }
    }

    /// <summary>The base width w.</summary>
    public int Width { get; }

    /// <inheritdoc/>
    public override string Architecture => ModelName;

    /// <inheritdoc/>
    public override int SizeMultiple => 1;

    /// <summary>Normalised input <c>[N, 3, H, W]</c> → logits <c>[N, 12, H, W]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 3 || x.shape[2] < 1 || x.shape[3] < 1)
            throw new ArgumentException($"SegResNet expects [N, 3, H, W], got [{string.Join(", ", x.shape)}]", nameof(x));
        using var scope = NewDisposeScope();
        var s1 = layer1.forward(stem.forward(x));   // 1/4
        var s2 = layer2.forward(s1);                // 1/8
        var s3 = layer3.forward(s2);                // 1/16
        var s4 = layer4.forward(s3);                // 1/32
        var y = lateral4.forward(s4);
        y = fuse3.forward(Up(y, s3) + lateral3.forward(s3));
        y = fuse2.forward(Up(y, s2) + lateral2.forward(s2));
        y = fuse1.forward(Up(y, s1) + lateral1.forward(s1));
        var logits = F.interpolate(classifier.forward(y), [x.shape[2], x.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false);
        return logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Dictionary<string, string> Metadata()
    {
        var meta = base.Metadata();
        meta["licb.segresnet.width"] = Width.ToString(CultureInfo.InvariantCulture);
        return meta;
    }

    /// <summary>The width recorded in a weights file's metadata (<see cref="DefaultWidth"/> when absent).</summary>
    internal static int WidthFromMetadata(IReadOnlyDictionary<string, string> meta, string fileName) =>
        !meta.TryGetValue("licb.segresnet.width", out var w) ? DefaultWidth
        : int.TryParse(w, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v is >= 4 and <= 256 ? v
        : throw new CheckpointFormatException($"{fileName}: bad licb.segresnet.width '{w}'", fileName);

    private static Tensor Up(Tensor x, Tensor like) =>
        F.interpolate(x, [like.shape[2], like.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false);

    private static Sequential ConvBnRelu(long cin, long cout, long stride = 1) => nn.Sequential(
        ("conv", nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false)),
        ("bn", nn.BatchNorm2d(cout)),
        ("relu", nn.ReLU()));

    /// <summary>Two BasicBlocks, the first with stride 2.</summary>
    private static Sequential Stage(long cin, long cout) => nn.Sequential(
        ("0", new BasicBlock(cin, cout, 2)),
        ("1", new BasicBlock(cout, cout, 1)));

    /// <summary>ResNet's BasicBlock: <c>relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))</c>, a 1 × 1 projection shortcut when the shape changes.</summary>
    private sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1, conv2;
        private readonly BatchNorm2d bn1, bn2;
        private readonly Sequential? shortcut;

        public BasicBlock(long cin, long cout, long stride) : base(nameof(BasicBlock))
        {
            conv1 = nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false);
            bn1 = nn.BatchNorm2d(cout);
            conv2 = nn.Conv2d(cout, cout, 3, padding: 1, bias: false);
            bn2 = nn.BatchNorm2d(cout);
            if (stride != 1 || cin != cout)
                shortcut = nn.Sequential(("conv", nn.Conv2d(cin, cout, 1, stride: stride, bias: false)), ("bn", nn.BatchNorm2d(cout)));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = bn2.forward(conv2.forward(F.relu(bn1.forward(conv1.forward(x)))));
            return F.relu(y + (shortcut?.forward(x) ?? x)).MoveToOuterDisposeScope();
        }
    }
}
