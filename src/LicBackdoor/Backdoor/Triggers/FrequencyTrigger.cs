using LicBackdoor.Imaging;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Triggers;

/// <summary>
/// Options of <see cref="FrequencyTrigger"/>. Defaults are the paper's (Fig. 2: K = 16, N = 64).
/// </summary>
/// <param name="K">Frequencies kept per image and YCbCr channel by the top-K selection (Table 4 ablations: 4 with N=16, 64 with N=256).</param>
/// <param name="Nf">Number of candidate middle frequencies N (1..256).</param>
/// <param name="TopK">False is Table 4's "w/o topK selection": all Nf values are used.</param>
/// <param name="PatchWeight">False is Table 4's "w/o patch-wise weight": w ≡ 1 and no weight network.</param>
/// <param name="WidthMultiplier">Scales every conv width (the authors' <c>multiplier</c>, as <c>int(c·m)</c>), so the weight net is affordable on a CPU.</param>
/// <param name="Set">Which positions make up the Nf middle frequencies (method-spec §1.4).</param>
public sealed record FrequencyTriggerOptions(
    int K = 16,
    int Nf = 64,
    bool TopK = true,
    bool PatchWeight = true,
    double WidthMultiplier = 1.0,
    FrequencySet Set = FrequencySet.AsImplemented)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when an option is out of range.</summary>
    public void Validate()
    {
        if (Nf < 1 || Nf > FrequencyPositions.Coefficients)
            throw new ArgumentOutOfRangeException(nameof(Nf), Nf, $"Nf must be in 1..{FrequencyPositions.Coefficients}");
        if (TopK && (K < 1 || K > Nf))
            throw new ArgumentOutOfRangeException(nameof(K), K, $"K must be in 1..Nf ({Nf})");
        Trigger.CheckMultiplier(WidthMultiplier);
        if (!Enum.IsDefined(Set))
            throw new ArgumentOutOfRangeException(nameof(Set), Set, "unknown frequency set");
    }
}

/// <summary>
/// The two factors of the frequency trigger for one batch: <see cref="General"/> g, <c>[N,3,16,16]</c> (YCbCr DCT
/// coefficients of one block, zero outside the selected positions), and <see cref="Weight"/> w, <c>[N,3,H/16,W/16]</c>
/// (one scalar per block and channel, all ones without the patch-wise weight), for the image padded as
/// <see cref="Padding"/> says.
/// </summary>
public sealed record FrequencyTriggerParts(Tensor General, Tensor Weight, PadSpec Padding)
{
    /// <summary>
    /// The trigger t = g ⊙ w in the blockwise DCT domain laid out in image coordinates, <c>[N,3,Hp,Wp]</c> for the
    /// padded size: coefficient (u,v) of block (a,b) sits at row 16a+u, column 16b+v.
    /// </summary>
    public Tensor Coefficients()
    {
        using var scope = NewDisposeScope();
        long n = General.shape[0], hb = Weight.shape[2], wb = Weight.shape[3];
        var blocks = General.unsqueeze(2) * Weight.reshape(n, 3, hb * wb, 1, 1);
        return BlockDct.Deblockify(blocks, hb * FrequencyPositions.BlockSize, wb * FrequencyPositions.BlockSize).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The paper's adaptive frequency trigger <c>T(x | θ_t)</c> (§3.2, Fig. 2; architecture as in the authors'
/// <c>Trigger_Net_v4</c>, method-spec §1.2-1.5):
/// <list type="number">
/// <item><c>x255 = round(255·x)</c> (8-bit levels; the identity on 8-bit data). Rounding has no gradient, so
/// no gradient reaches x through T; x is data, the trigger's parameters are what is trained.</item>
/// <item>General trigger g ("local feature"): every 16×16 RGB patch goes through conv_block(3,64) → MaxPool2 →
/// conv_block(64,128) → MaxPool2 (N·L×128×4×4); a max over the L patches gives N×2048; two 1×1 heads give
/// Nf values and Nf importance logits per YCbCr channel; hard top-K keeps the K values with the largest
/// importance (per image and channel) and zeroes the rest. The selection is not differentiable, so, as in
/// the authors' code, the importance head gets no gradient (it stays at its initialisation; the selection
/// still adapts because the shared trunk is trained through the values). The kept values are placed at the
/// Nf positions of <see cref="FrequencyTriggerOptions.Set"/> of a 16×16 coefficient block.</item>
/// <item>Patch-wise weight w ("global feature"): conv_blocks 64/128/256/512 with MaxPool2 on the full RGB
/// image, then a 1×1 conv to 3: one scalar per 16×16 block and YCbCr channel.</item>
/// <item>Injection: YCbCr (JPEG full range, 0..255) minus 128, blockwise unnormalised DCT (scipy norm=None),
/// add t = g ⊙ w to every block, inverse DCT, +128, back to RGB, ÷255. No clamp and no rounding inside (use
/// <see cref="Trigger.Apply"/> with clamp at evaluation).</item>
/// </list>
/// Stealth is not enforced here but by the penalty of Eq. 3 (<see cref="StealthPenalty"/>). Images whose sides are
/// not multiples of 16 are padded (centred, replicate) and cropped back. State-dict keys: <c>general.*</c>
/// (<c>block1</c>, <c>block2</c>, <c>value_head</c>, <c>importance_head</c>) and <c>weight.*</c> (<c>block1</c>…<c>block4</c>, <c>head</c>).
/// </summary>
public sealed class FrequencyTrigger : Trigger
{
    /// <summary>Block size of the DCT and of the patches (method-spec §1.2).</summary>
    public const int BlockSize = FrequencyPositions.BlockSize;

    /// <summary>Offset subtracted from all three YCbCr channels before the DCT (authors' code; only the DC term moves).</summary>
    public const double DctOffset = 128;

    private readonly GeneralTriggerBranch general;
    private readonly PatchWeightBranch? weight;
    private readonly Tensor gain;
    private readonly int[] positions;

    /// <summary>Builds the trigger with fresh (PyTorch-default) initialisation from the global generator.</summary>
    public FrequencyTrigger(FrequencyTriggerOptions? options = null) : base(nameof(FrequencyTrigger), "frequency", BlockSize)
    {
        Options = options ?? new FrequencyTriggerOptions();
        Options.Validate();
        positions = FrequencyPositions.Positions(Options.Set, Options.Nf);
        general = new GeneralTriggerBranch(Options, positions);
        weight = Options.PatchWeight ? new PatchWeightBranch(Options.WidthMultiplier) : null;
        gain = ones(1).DetachFromDisposeScope();
        register_buffer("gain", gain);
        RegisterComponents();
    }

    /// <summary>
    /// The fixed factor s of <c>t = s·g ⊙ w</c> (a buffer, saved with the weights; 1 is the authors' network). At the
    /// PyTorch-default initialisation the trigger is about 80 dB below the image, far inside its stealth budget, and
    /// grows to the budget only after many thousand steps; <see cref="Calibrate"/> sets s once, before training, so
    /// the initial trigger sits at a chosen fraction of the budget.
    /// </summary>
    public double Gain => gain.item<float>();

    /// <summary>
    /// Scales <see cref="Gain"/> so that the (unclamped) trigger's MSE on <paramref name="x"/> is <paramref name="targetMse"/>
    /// (the trigger is linear in s). Returns the new gain. Runs without gradients, in the module's current mode (in
    /// training mode BatchNorm uses the batch statistics, as during training, and updates its running statistics once).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The target is not positive.</exception>
    public double Calibrate(Tensor x, double targetMse)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!(targetMse > 0) || double.IsInfinity(targetMse)) throw new ArgumentOutOfRangeException(nameof(targetMse), targetMse, "the target MSE must be positive");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // Against the 8-bit image the trigger starts from (it rounds x), so rounding error of non-8-bit input does not count.
        double mse = nn.functional.mse_loss(forward(x), x.mul(255).round_().div_(255)).item<float>();
        if (mse > 0 && double.IsFinite(mse)) gain.mul_(Math.Sqrt(targetMse / mse));
        return Gain;
    }

    /// <summary>The options the trigger was built with.</summary>
    public FrequencyTriggerOptions Options { get; }

    /// <summary>The raster positions (16·row + col) of the Nf candidate frequencies, in slot order.</summary>
    public IReadOnlyList<int> Positions => positions;

    /// <inheritdoc/>
    public override string Configuration => ToJson(Options);

    /// <summary>
    /// g and w for <paramref name="x"/> (<c>[N,3,H,W]</c> in [0,1], any size; padded as in <see cref="Trigger.forward"/>).
    /// The networks run in their current mode: in training mode this also updates the BatchNorm statistics.
    /// </summary>
    public FrequencyTriggerParts Parts(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4 || x.shape[1] != 3)
            throw new ArgumentException($"expected [N,3,H,W], got [{string.Join(", ", x.shape)}]", nameof(x));
        using var scope = NewDisposeScope();
        var pad = PadFor(x);
        var x255 = PadReplicate(x, pad).mul(255).round_();
        var (g, w) = Components(x255);
        return new FrequencyTriggerParts(g.MoveToOuterDisposeScope(), w.MoveToOuterDisposeScope(), pad);
    }

    /// <inheritdoc/>
    protected override Tensor PoisonAligned(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], h = x.shape[2], wd = x.shape[3], hb = h / BlockSize, wb = wd / BlockSize;
        var x255 = x.mul(255).round_();
        var (g, w) = Components(x255);
        var t = g.unsqueeze(2) * w.reshape(n, 3, hb * wb, 1, 1);                      // [N,3,L,16,16]
        var dct = BlockDct.Dct2d(BlockDct.Blockify(YCbCr.FromRgb(x255) - DctOffset, BlockSize));
        var ycc = BlockDct.Deblockify(BlockDct.Idct2d(dct + t), h, wd) + DctOffset;
        return YCbCr.ToRgb(ycc).div_(255).MoveToOuterDisposeScope();
    }

    private (Tensor General, Tensor Weight) Components(Tensor x255)
    {
        var g = general.forward(x255) * gain;
        var w = weight is null
            ? ones(x255.shape[0], 3, x255.shape[2] / BlockSize, x255.shape[3] / BlockSize, dtype: x255.dtype)
            : weight.forward(x255);
        return (g, w);
    }
}

/// <summary>The general-trigger branch g of <see cref="FrequencyTrigger"/> (method-spec §1.2 (a), §1.5).</summary>
internal sealed class GeneralTriggerBranch : nn.Module<Tensor, Tensor>
{
    private const int Block = FrequencyPositions.BlockSize;
    private readonly ConvBlock block1, block2;
    private readonly Conv2d value_head;
    private readonly Conv2d? importance_head;
    private readonly int nf, k;
    private readonly bool topK;
    private readonly long[] positions;

    public GeneralTriggerBranch(FrequencyTriggerOptions o, IReadOnlyList<int> positions) : base(nameof(GeneralTriggerBranch))
    {
        int c1 = Trigger.Width(64, o.WidthMultiplier), c2 = Trigger.Width(128, o.WidthMultiplier);
        int features = c2 * (Block / 4) * (Block / 4);                                 // 128 × 4 × 4 = 2048
        nf = o.Nf; k = o.K; topK = o.TopK;
        this.positions = positions.Select(p => (long)p).ToArray();
        block1 = new ConvBlock(3, c1);
        block2 = new ConvBlock(c1, c2);
        value_head = nn.Conv2d(features, 3 * nf, 1);
        importance_head = topK ? nn.Conv2d(features, 3 * nf, 1) : null;
        RegisterComponents();
    }

    /// <summary>g, <c>[N,3,16,16]</c>, from the 0..255 RGB batch (H, W multiples of 16).</summary>
    public override Tensor forward(Tensor x255)
    {
        using var scope = NewDisposeScope();
        long n = x255.shape[0];
        var patches = BlockDct.Blockify(x255, Block);                                  // [N,3,L,16,16]
        long l = patches.shape[2];
        patches = patches.transpose(1, 2).reshape(n * l, 3, Block, Block);
        var f = nn.functional.max_pool2d(block1.forward(patches), 2, 2);
        f = nn.functional.max_pool2d(block2.forward(f), 2, 2);                         // [N·L, C, 4, 4]
        f = f.reshape(n, l, f.shape[1], f.shape[2], f.shape[3]).max(1).values;       // max over the patches
        f = f.reshape(n, f.shape[1] * f.shape[2] * f.shape[3], 1, 1);                  // [N, 16C, 1, 1]
        var values = value_head.forward(f).reshape(n, 3, nf);
        if (topK)
        {
            Tensor keep;
            using (no_grad())
            {
                // Hard top-K on the importance logits: indices only, so no gradient reaches importance_head.
                var importance = importance_head!.forward(f).reshape(n, 3, nf);
                var idx = importance.topk(k, dim: 2, largest: true).indexes;
                keep = zeros_like(values).scatter_(2, idx, ones_like(values));
            }
            values = values * keep;
        }
        var pos = tensor(positions).expand(n, 3, positions.Length);
        var g = zeros(n, 3, Block * Block, dtype: values.dtype).scatter(2, pos, values);
        return g.reshape(n, 3, Block, Block).MoveToOuterDisposeScope();
    }
}

/// <summary>The patch-wise weight branch w of <see cref="FrequencyTrigger"/> (method-spec §1.2 (b)).</summary>
internal sealed class PatchWeightBranch : nn.Module<Tensor, Tensor>
{
    private readonly ConvBlock block1, block2, block3, block4;
    private readonly Conv2d head;

    public PatchWeightBranch(double m) : base(nameof(PatchWeightBranch))
    {
        int c1 = Trigger.Width(64, m), c2 = Trigger.Width(128, m), c3 = Trigger.Width(256, m), c4 = Trigger.Width(512, m);
        block1 = new ConvBlock(3, c1);
        block2 = new ConvBlock(c1, c2);
        block3 = new ConvBlock(c2, c3);
        block4 = new ConvBlock(c3, c4);
        head = nn.Conv2d(c4, 3, 1);
        RegisterComponents();
    }

    /// <summary>w, <c>[N,3,H/16,W/16]</c>, from the 0..255 RGB batch.</summary>
    public override Tensor forward(Tensor x255)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.max_pool2d(block1.forward(x255), 2, 2);
        h = nn.functional.max_pool2d(block2.forward(h), 2, 2);
        h = nn.functional.max_pool2d(block3.forward(h), 2, 2);
        h = nn.functional.max_pool2d(block4.forward(h), 2, 2);
        return head.forward(h).MoveToOuterDisposeScope();
    }
}
