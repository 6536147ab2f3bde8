using LicBackdoor.Codec.Entropy;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Models;

/// <summary>Result of a model's forward pass: the reconstruction and the likelihood of each latent.</summary>
/// <param name="XHat">Reconstruction [N,3,H,W] (not clamped, as in CompressAI's forward).</param>
/// <param name="Likelihoods">"y" and "z" likelihood tensors.</param>
public sealed record CodecOutput(Tensor XHat, IReadOnlyDictionary<string, Tensor> Likelihoods)
{
    /// <summary>The same output cut from the autograd graph (every tensor detached).</summary>
    public CodecOutput Detach() => new(XHat.detach(), Likelihoods.ToDictionary(l => l.Key, l => l.Value.detach()));
}

/// <summary>
/// Entropy-coded latents of a batch: one y string and one z string per batch item, and the z latent's
/// spatial size (CompressAI's <c>{"strings": [y_strings, z_strings], "shape": z.shape[-2:]}</c>).
/// </summary>
public sealed record CompressedLatents(IReadOnlyList<byte[]> YStrings, IReadOnlyList<byte[]> ZStrings, int ZHeight, int ZWidth)
{
    /// <summary>Total payload bytes of batch item <paramref name="item"/> (what CompressAI counts for bpp).</summary>
    public long PayloadBytes(int item = 0) => (long)YStrings[item].Length + ZStrings[item].Length;
}

/// <summary>
/// Base of the learned codecs (CompressAI <c>CompressionModel</c>): forward for training/estimation,
/// real compress/decompress, CDF table updates and the auxiliary loss over every entropy bottleneck.
/// Inputs are [N,3,H,W] float in [0,1] with H and W multiples of <see cref="DownsamplingFactor"/>.
/// </summary>
public abstract class CompressionModel : nn.Module<Tensor, CodecOutput>
{
    protected CompressionModel(string name) : base(name) { }

    /// <summary>The registered model name (e.g. "bmshj2018-hyperprior").</summary>
    public abstract string ModelName { get; }

    /// <summary>Total stride of the analysis + hyper-analysis transforms: inputs must be multiples of it.</summary>
    public virtual int DownsamplingFactor => 64;

    /// <summary>The analysis transform g_a (image → y), whose state-dict keys start with <see cref="AnalysisPrefix"/>: the part a backdoor fine-tunes.</summary>
    public abstract TorchSharp.Modules.Sequential Analysis { get; }

    /// <summary>State-dict key prefix of <see cref="Analysis"/> (CompressAI's <c>g_a.</c>).</summary>
    public const string AnalysisPrefix = "g_a.";

    /// <summary>The factorized prior on z.</summary>
    public abstract EntropyBottleneck EntropyBottleneck { get; }

    /// <summary>The conditional Gaussian on y.</summary>
    public abstract GaussianConditional GaussianConditional { get; }

    /// <summary>Sum of the entropy bottlenecks' auxiliary losses.</summary>
    public Tensor AuxLoss() => EntropyBottleneck.Loss();

    /// <summary>Builds the CDF tables of every entropy model (call after training, before compressing).</summary>
    public bool Update(bool force = false, IReadOnlyList<float>? scaleTable = null)
    {
        bool updated = EntropyBottleneck.Update(force);
        updated |= GaussianConditional.Update(scaleTable, force);
        return updated;
    }

    /// <summary>
    /// The likelihoods of the symbols a real bitstream codes, in eval mode: for models without a context model the
    /// same as <see cref="nn.Module{T, TResult}.forward"/>'s. An autoregressive model overrides
    /// <see cref="CodedLikelihoodsInEval"/>: its forward pass
    /// feeds round(y) to the context model, the coder feeds round(y − μ) + μ, so the forward estimate describes
    /// slightly different symbols than the ones coded.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> CodedLikelihoods(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        bool wasTraining = training;
        eval();
        try
        {
            return CodedLikelihoodsInEval(x).ToDictionary(kv => kv.Key, kv => kv.Value.MoveToOuterDisposeScope());
        }
        finally { if (wasTraining) train(); }
    }

    /// <summary>
    /// The evaluation-mode forward pass (rounded latents, as a bitstream codes them, whatever the module's mode) with
    /// gradients passed straight through every rounding: a rate or distortion loss on what the real codec does,
    /// differentiable with respect to the input and the encoder. Values equal <see cref="nn.Module{T, TResult}.forward"/>'s
    /// in eval mode.
    /// </summary>
    public abstract CodecOutput ForwardStraightThrough(Tensor x);

    /// <summary><see cref="CodedLikelihoods"/> in eval mode without gradients (default: the forward pass's likelihoods).</summary>
    protected virtual IReadOnlyDictionary<string, Tensor> CodedLikelihoodsInEval(Tensor x) => forward(x).Likelihoods;

    /// <summary>
    /// Compresses a batch [N,3,H,W] whose sizes are multiples of <see cref="DownsamplingFactor"/>, on
    /// <see cref="CodecThreads.Count"/> libtorch threads (the bitstream does not depend on the process's thread count).
    /// </summary>
    public CompressedLatents Compress(Tensor x)
    {
        CheckInput(x);
        return CodecThreads.Run(() =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return CompressLatents(x).Latents;
        });
    }

    /// <summary>
    /// Decodes latents into a reconstruction [N,3,H,W] clamped to [0,1], on <see cref="CodecThreads.Count"/> libtorch
    /// threads (the pixels do not depend on the process's thread count).
    /// </summary>
    public Tensor Decompress(CompressedLatents latents)
    {
        CheckLatents(latents);
        return CodecThreads.Run(() =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return Synthesize(DecodeLatents(latents)).clamp_(Runtime.KeptScalars.Zero, Runtime.KeptScalars.One).MoveToOuterDisposeScope();
        });
    }

    /// <summary>
    /// Codes z with the entropy bottleneck and returns its strings with the decoded ẑ: the encoder conditions on
    /// exactly what the decoder will see.
    /// </summary>
    protected (byte[][] Strings, Tensor ZHat) CodeHyperLatent(Tensor z)
    {
        var strings = EntropyBottleneck.Compress(z);
        return (strings, DecodeHyperLatent(strings, (int)z.shape[2], (int)z.shape[3]));
    }

    /// <summary>ẑ [N,C,h,w] from the z strings.</summary>
    protected Tensor DecodeHyperLatent(IReadOnlyList<byte[]> strings, int height, int width) =>
        EntropyBottleneck.Decompress(strings, new long[] { height, width });

    /// <summary>Entropy codes the image and returns the strings with the quantised latent ŷ the encoder used.</summary>
    internal abstract (CompressedLatents Latents, Tensor YHat) CompressLatents(Tensor x);

    /// <summary>Decodes ŷ [N,M,h,w] from the strings.</summary>
    internal abstract Tensor DecodeLatents(CompressedLatents latents);

    /// <summary>The synthesis transform g_s applied to ŷ (no clamp).</summary>
    public abstract Tensor Synthesize(Tensor yHat);

    /// <summary>Throws a clear error unless <paramref name="x"/> is [N,3,H,W] with H, W multiples of the downsampling factor.</summary>
    protected void CheckInput(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 3)
            throw new ArgumentException($"{ModelName} expects a [N,3,H,W] image tensor, got [{string.Join(",", x.shape)}]");
        if (x.shape[2] % DownsamplingFactor != 0 || x.shape[3] % DownsamplingFactor != 0 || x.shape[2] == 0 || x.shape[3] == 0)
            throw new ArgumentException($"{ModelName}: height and width must be positive multiples of {DownsamplingFactor} (pad with Imaging.Padding); got {x.shape[2]}x{x.shape[3]}");
    }

    /// <summary>Checks the latents against this model (batch consistency, positive sizes).</summary>
    protected static void CheckLatents(CompressedLatents latents)
    {
        if (latents.YStrings.Count == 0 || latents.YStrings.Count != latents.ZStrings.Count)
            throw new ArgumentException("compressed latents need one y and one z string per batch item");
        if (latents.ZHeight <= 0 || latents.ZWidth <= 0 || (long)latents.ZHeight * latents.ZWidth > 1 << 22)
            throw new ArgumentException($"invalid latent size {latents.ZHeight}x{latents.ZWidth}");
    }
}
