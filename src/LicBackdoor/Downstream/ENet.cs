using LicBackdoor.Weights;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Downstream;

/// <summary>
/// ENet (Paszke, Chaurasia, Kim, Culurciello, "ENet: A Deep Neural Network Architecture for Real-Time
/// Semantic Segmentation", 2016) in the exact layout of the ntkhoa95/ENet_PyTorch CamVid model, so its
/// published checkpoint (and any state dict in that layout) loads strictly: 632 keys, <c>initial.*</c>,
/// <c>b10</c>…<c>b51</c>, <c>fullconv</c>. The downstream segmentation net g(·) of the paper's semantic
/// segmentation attack (§3, with CamVid in place of Cityscapes).
/// </summary>
/// <remarks>
/// <para><see cref="forward"/> takes the raw network input: <c>[N, 3, H, W]</c>, H and W multiples of 8, and
/// returns logits <c>[N, 12, H, W]</c>; channel k is CamVid label k (11 = void). For the published checkpoint
/// that input is RGB in <b>0..255</b> (no normalisation); nets trained here record their own preprocessing
/// (<see cref="SegmentationPreprocessing"/>) in their weights. <see cref="SegmentationNet.Logits"/> and
/// <see cref="SegmentationNet.Predict"/> take images in [0, 1] at any size and do the preprocessing inside
/// (for the published weights: resize to 512 × 512, scale to 0..255), then resize the logits back
/// (downstream-spec A2, A8).</para>
/// <para>Every block's single PReLU is registered under the four names of the original
/// (<c>activation</c>, <c>activation1/2/3</c>), so the state dict has the original's keys; a checkpoint
/// whose four aliases differ is refused.</para>
/// </remarks>
public sealed class ENet : SegmentationNet
{
    /// <summary>The <c>licb.model</c> name of ENet weights.</summary>
    public const string ModelName = "enet-camvid";

    /// <summary>The side of the square the original resizes every image to (downstream-spec A2).</summary>
    public const int InputSize = 512;

    /// <summary>
    /// The square size the published preprocessing resizes images to: <see cref="InputSize"/> (512) as the
    /// original code does, which the published checkpoint and its reference scores assume. A smaller multiple
    /// of 8 is faster (tests, quick experiments) but changes the results. Setting it selects the published
    /// preprocessing at that size; 0 when the preprocessing has no fixed square size.
    /// </summary>
    public int ProcessingSize
    {
        get => Preprocessing.Width is int w && Preprocessing.Height == w ? w : 0;
        init => Preprocessing = value >= 8 && value % 8 == 0 ? SegmentationPreprocessing.Published(value)
            : throw new ArgumentOutOfRangeException(nameof(ProcessingSize), value, "must be a positive multiple of 8");
    }

    /// <inheritdoc/>
    public override string Architecture => ModelName;

    /// <inheritdoc/>
    public override int SizeMultiple => 8;

    private readonly InitialBlock initial;
    private readonly Bottleneck b10, b11, b12, b13, b14;
    private readonly Bottleneck b20, b21, b22, b23, b24, b25, b26, b27, b28;
    private readonly Bottleneck b31, b32, b33, b34, b35, b36, b37, b38;
    private readonly Bottleneck b40, b41, b42, b50, b51;
    private readonly ConvTranspose2d fullconv;

    /// <summary>A fresh ENet with PyTorch's default initialisation (seed the global generator for determinism).</summary>
    public ENet() : base(nameof(ENet), SegmentationPreprocessing.Published())
    {
        initial = new InitialBlock();
        b10 = Bottleneck.Regular(16, 64, down: true, dropout: 0.01);
        b11 = Bottleneck.Regular(64, 64, dropout: 0.01);
        b12 = Bottleneck.Regular(64, 64, dropout: 0.01);
        b13 = Bottleneck.Regular(64, 64, dropout: 0.01);
        b14 = Bottleneck.Regular(64, 64, dropout: 0.01);
        b20 = Bottleneck.Regular(64, 128, down: true);
        (b21, b22, b23, b24, b25, b26, b27, b28) = Stage();
        (b31, b32, b33, b34, b35, b36, b37, b38) = Stage();
        b40 = Bottleneck.Upsampling(128, 64);
        b41 = Bottleneck.Regular(64, 64);
        b42 = Bottleneck.Regular(64, 64);
        b50 = Bottleneck.Upsampling(64, 16);
        b51 = Bottleneck.Regular(16, 16);
        fullconv = nn.ConvTranspose2d(16, NumClasses, 3, stride: 2, padding: 1, output_padding: 1, bias: false);
        RegisterComponents();
    }

    /// <summary>Stages 2 and 3 after the downsampling block: dilations 1, 2, A, 4, 1, 8, A, 16 (downstream-spec A6).</summary>
    private static (Bottleneck, Bottleneck, Bottleneck, Bottleneck, Bottleneck, Bottleneck, Bottleneck, Bottleneck) Stage() => (
        Bottleneck.Regular(128, 128), Bottleneck.Regular(128, 128, dilation: 2), Bottleneck.Asymmetric(),
        Bottleneck.Regular(128, 128, dilation: 4), Bottleneck.Regular(128, 128), Bottleneck.Regular(128, 128, dilation: 8),
        Bottleneck.Asymmetric(), Bottleneck.Regular(128, 128, dilation: 16));

    /// <summary>Raw network: <c>[N, 3, H, W]</c> in 0..255 (H, W multiples of 8) → logits <c>[N, 12, H, W]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 3 || x.shape[2] % 8 != 0 || x.shape[3] % 8 != 0 || x.shape[2] == 0 || x.shape[3] == 0)
            throw new ArgumentException($"ENet expects [N, 3, H, W] with H and W positive multiples of 8, got [{string.Join(", ", x.shape)}]", nameof(x));
        using var scope = NewDisposeScope();
        x = initial.forward(x);
        (x, var idx1) = b10.ForwardDown(x);
        x = b14.forward(b13.forward(b12.forward(b11.forward(x))));
        (x, var idx2) = b20.ForwardDown(x);
        foreach (var b in new[] { b21, b22, b23, b24, b25, b26, b27, b28, b31, b32, b33, b34, b35, b36, b37, b38 })
            x = b.forward(x);
        x = b42.forward(b41.forward(b40.ForwardUp(x, idx2)));
        x = b51.forward(b50.ForwardUp(x, idx1));
        return fullconv.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Loads weights into this net: a PyTorch checkpoint (zip or legacy <c>torch.save</c>, e.g. the published
    /// <c>enet-camvid.pth</c> holding <c>{'state_dict': ...}</c>) or a safetensors file written by
    /// <see cref="SegmentationNet.Save"/>. The load is strict: every one of the 632 keys must be present with its shape, and
    /// nothing else; the four PReLU aliases of a block must agree.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is unreadable or does not fit.</exception>
    public ENet LoadWeights(string path)
    {
        Dictionary<string, Tensor> sd;
        if (TorchCheckpoint.IsTorchCheckpoint(path)) sd = TorchCheckpoint.LoadStateDict(path);
        else
        {
            (sd, var meta) = Safetensors.Load(path);
            try
            {
                if (meta.TryGetValue("licb.model", out var model) && model != ModelName)
                    throw new CheckpointFormatException($"{path}: holds a '{model}' net, not ENet", path);
                if (SegmentationPreprocessing.FromMetadata(meta, path) is { } pre) Preprocessing = pre;
            }
            catch
            {
                foreach (var t in sd.Values) t.Dispose();
                throw;
            }
        }
        try
        {
            LoadStateDict(sd, path);
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
        return this;
    }

    /// <summary>Strict load of a state dict in the ntkhoa95 layout; <paramref name="fileName"/> is named in errors.</summary>
    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> sd, string fileName)
    {
        foreach (var (name, module) in named_modules())
        {
            if (module is not Bottleneck) continue;
            if (!sd.TryGetValue(name + ".activation.weight", out var a)) continue; // reported as missing below
            foreach (var alias in new[] { "activation1", "activation2", "activation3" })
                if (sd.TryGetValue($"{name}.{alias}.weight", out var b) && b.shape.SequenceEqual(a.shape)
                    && !b.to_type(ScalarType.Float32).equal(a.to_type(ScalarType.Float32)).all().item<bool>())
                    throw new CheckpointFormatException($"{fileName}: '{name}.{alias}.weight' differs from '{name}.activation.weight' (ENet shares one PReLU per block)", fileName);
        }
        StateDict.Load(this, sd, fileName);
    }

    /// <summary>
    /// A net in eval mode with the weights of <paramref name="path"/> and the preprocessing its metadata records
    /// (the published one for PyTorch checkpoints and files without <c>licb.input.*</c> entries). Saved with
    /// <see cref="SegmentationNet.Save"/>: the original's 632 keys, the architecture and the preprocessing.
    /// </summary>
    public static ENet FromFile(string path)
    {
        var net = new ENet();
        net.LoadWeights(path);
        net.eval();
        return net;
    }

    /// <summary>
    /// Initial block (downstream-spec A4): <c>prelu(cat([norm(conv3x3/2(x)), maxpool2x2(x)]))</c>, 3 → 16 channels.
    /// Keys: <c>conv</c>, <c>norm</c>, <c>activation</c>.
    /// </summary>
    private sealed class InitialBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv;
        private readonly BatchNorm2d norm;
        private readonly PReLU activation;

        public InitialBlock() : base(nameof(InitialBlock))
        {
            conv = nn.Conv2d(3, 13, 3, stride: 2, padding: 1, bias: true);
            norm = nn.BatchNorm2d(13);
            activation = nn.PReLU(16);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var main = norm.forward(conv.forward(x));
            var side = F.max_pool2d(x, [2, 2], [2, 2]);
            return activation.forward(cat([main, side], 1)).MoveToOuterDisposeScope();
        }
    }

    /// <summary>The three bottleneck kinds of downstream-spec A5.</summary>
    private enum Kind { Regular, Asymmetric, Upsampling }

    /// <summary>
    /// An ENet bottleneck: regular/dilated/downsampling (<c>conv1</c>, <c>conv2</c>, <c>conv3</c>), asymmetric
    /// (<c>conv1</c>, <c>conv21</c>, <c>conv22</c>, <c>conv3</c>) or upsampling (<c>convt1/2/3</c>, <c>main_conv</c>),
    /// each with <c>norm1/2/3</c> and one scalar PReLU registered as <c>activation</c> and <c>activation1/2/3</c>.
    /// </summary>
    private sealed class Bottleneck : nn.Module<Tensor, Tensor>
    {
        private readonly Kind kind;
        private readonly long inCh, outCh;
        private readonly bool down;

        // Field names are the state-dict names (RegisterComponents registers non-null fields).
        private readonly PReLU activation, activation1, activation2, activation3;
        private readonly Conv2d? conv1, conv2, conv3, conv21, conv22, main_conv;
        private readonly ConvTranspose2d? convt1, convt2, convt3;
        private readonly BatchNorm2d norm1, norm2, norm3;
        private readonly Dropout2d dropout;

        private Bottleneck(Kind kind, long inCh, long outCh, long mid, bool down, long dilation, double dropout) : base(nameof(Bottleneck))
        {
            this.kind = kind;
            this.inCh = inCh;
            this.outCh = outCh;
            this.down = down;
            activation = nn.PReLU(1);
            activation1 = activation2 = activation3 = activation;
            switch (kind)
            {
                case Kind.Regular:
                    conv1 = nn.Conv2d(inCh, mid, 1, bias: false);
                    conv2 = nn.Conv2d(mid, mid, 3, stride: down ? 2 : 1, padding: dilation, dilation: dilation, bias: true);
                    conv3 = nn.Conv2d(mid, outCh, 1, bias: false);
                    break;
                case Kind.Asymmetric:
                    conv1 = nn.Conv2d(inCh, mid, 1, bias: false);
                    conv21 = nn.Conv2d(mid, mid, (1, 5), padding: (0, 2), bias: false);
                    conv22 = nn.Conv2d(mid, mid, (5, 1), padding: (2, 0), bias: false);
                    conv3 = nn.Conv2d(mid, outCh, 1, bias: false);
                    break;
                case Kind.Upsampling:
                    main_conv = nn.Conv2d(inCh, outCh, 1, bias: true);
                    convt1 = nn.ConvTranspose2d(inCh, mid, 1, bias: false);
                    convt2 = nn.ConvTranspose2d(mid, mid, 3, stride: 2, padding: 1, output_padding: 1, bias: false);
                    convt3 = nn.ConvTranspose2d(mid, outCh, 1, bias: false);
                    break;
            }
            norm1 = nn.BatchNorm2d(mid);
            norm2 = nn.BatchNorm2d(mid);
            norm3 = nn.BatchNorm2d(outCh);
            this.dropout = nn.Dropout2d(dropout);
            RegisterComponents();
        }

        /// <summary>Regular, dilated or (with <paramref name="down"/>) downsampling block; mid = in/4 when down, else out/4.</summary>
        public static Bottleneck Regular(long inCh, long outCh, bool down = false, long dilation = 1, double dropout = 0.1) =>
            new(Kind.Regular, inCh, outCh, down ? inCh / 4 : outCh / 4, down, dilation, dropout);

        /// <summary>Asymmetric 5x1/1x5 block, 128 → 128, mid 32.</summary>
        public static Bottleneck Asymmetric() => new(Kind.Asymmetric, 128, 128, 32, false, 1, 0.1);

        /// <summary>Upsampling block with max-unpooling on the main branch; mid = in/4.</summary>
        public static Bottleneck Upsampling(long inCh, long outCh) => new(Kind.Upsampling, inCh, outCh, inCh / 4, false, 1, 0.1);

        public override Tensor forward(Tensor x)
        {
            if (down || kind == Kind.Upsampling) throw new InvalidOperationException("use ForwardDown / ForwardUp for this block");
            using var scope = NewDisposeScope();
            return activation.forward(Side(x) + x).MoveToOuterDisposeScope();
        }

        /// <summary>Downsampling: <c>(prelu(side + pad(maxpool(x))), pooling indices)</c>.</summary>
        public (Tensor Y, Tensor Indices) ForwardDown(Tensor x)
        {
            using var scope = NewDisposeScope();
            var side = Side(x);
            var (main, idx) = F.max_pool2d_with_indices(x, [2, 2], [2, 2]);
            if (outCh > inCh)
                main = cat([main, zeros(main.shape[0], outCh - inCh, main.shape[2], main.shape[3], dtype: main.dtype, device: main.device)], 1);
            return (activation.forward(side + main).MoveToOuterDisposeScope(), idx.MoveToOuterDisposeScope());
        }

        /// <summary>Upsampling: <c>prelu(side + max_unpool(main_conv(x), indices))</c>.</summary>
        public Tensor ForwardUp(Tensor x, Tensor indices)
        {
            using var scope = NewDisposeScope();
            var side = activation.forward(norm1.forward(convt1!.forward(x)));
            side = activation.forward(norm2.forward(convt2!.forward(side)));
            side = dropout.forward(norm3.forward(convt3!.forward(side)));
            var main = MaxUnpool(main_conv!.forward(x), indices, side.shape[2], side.shape[3]);
            return activation.forward(side + main).MoveToOuterDisposeScope();
        }

        /// <summary>
        /// max_unpool2d (kernel 2, stride 2): each value goes to the flat position <c>y·W + x</c> its index
        /// names in an <paramref name="h"/> × <paramref name="w"/> plane of zeros. Written as a scatter because
        /// TorchSharp 0.107's <c>max_unpool2d</c> binding drops the output size; differentiable in the values.
        /// </summary>
        private static Tensor MaxUnpool(Tensor values, Tensor indices, long h, long w)
        {
            long n = values.shape[0], c = values.shape[1];
            var plane = zeros([n, c, h * w], dtype: values.dtype, device: values.device);
            return plane.scatter(2, indices.flatten(2), values.flatten(2)).view(n, c, h, w);
        }

        private Tensor Side(Tensor x)
        {
            var side = activation.forward(norm1.forward(conv1!.forward(x)));
            if (kind == Kind.Asymmetric)
            {
                // The original applies its Dropout2d before norm3 here, after norm3 in the regular blocks.
                side = activation.forward(norm2.forward(conv22!.forward(conv21!.forward(side))));
                return norm3.forward(dropout.forward(conv3!.forward(side)));
            }
            side = activation.forward(norm2.forward(conv2!.forward(side)));
            return dropout.forward(norm3.forward(conv3!.forward(side)));
        }
    }
}
