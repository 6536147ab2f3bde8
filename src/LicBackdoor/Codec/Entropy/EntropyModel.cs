using LicBackdoor.Codec.Ops;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Entropy;

/// <summary>How <see cref="EntropyModel.Quantize"/> maps continuous latents (CompressAI <c>EntropyModel.quantize</c>).</summary>
public enum QuantizeMode
{
    /// <summary>Additive uniform noise in [-0.5, 0.5) (training proxy; means are ignored).</summary>
    Noise,
    /// <summary><c>round(x - means) + means</c> as float.</summary>
    Dequantize,
    /// <summary><c>int(round(x - means))</c>.</summary>
    Symbols,
}

/// <summary>
/// Base of the entropy models (Ballé et al. 2018): quantisation, the likelihood lower bound, and the
/// quantised CDF tables kept as buffers (<c>_quantized_cdf</c>, <c>_cdf_length</c>, <c>_offset</c>) so a
/// checkpoint is self-contained. The tables are empty until <c>Update()</c> builds them or a checkpoint
/// fills them.
/// </summary>
public abstract partial class EntropyModel : nn.Module
{
    /// <summary>CompressAI's likelihood floor (1e-9) and tail mass.</summary>
    public const double DefaultLikelihoodBound = 1e-9;
    public const double DefaultTailMass = 1e-9;

    private readonly Tensor _offset;
    private readonly Tensor _quantized_cdf;
    private readonly Tensor _cdf_length;
    private readonly LowerBound likelihood_lower_bound;

    protected EntropyModel(string name, double likelihoodBound = DefaultLikelihoodBound, double tailMass = DefaultTailMass)
        : base(name)
    {
        TailMass = tailMass;
        _offset = zeros(0, dtype: ScalarType.Int32);
        _quantized_cdf = zeros(0, dtype: ScalarType.Int32);
        _cdf_length = zeros(0, dtype: ScalarType.Int32);
        likelihood_lower_bound = new LowerBound(likelihoodBound);
    }

    /// <summary>Registers the shared buffers; derived classes call this after declaring their own members.</summary>
    protected void RegisterEntropyBuffers()
    {
        register_buffer("_offset", _offset);
        register_buffer("_quantized_cdf", _quantized_cdf);
        register_buffer("_cdf_length", _cdf_length);
        register_module("likelihood_lower_bound", likelihood_lower_bound);
    }

    public double TailMass { get; }

    /// <summary>The <c>_offset</c> buffer (int32 [tables]).</summary>
    public Tensor Offsets => _offset;

    /// <summary>The <c>_quantized_cdf</c> buffer (int32 [tables, width]).</summary>
    public Tensor QuantizedCdfs => _quantized_cdf;

    /// <summary>The <c>_cdf_length</c> buffer (int32 [tables]).</summary>
    public Tensor CdfLengths => _cdf_length;

    /// <summary>True once the CDF tables exist (after <c>Update</c> or loading an updated checkpoint).</summary>
    public bool HasTables => _offset.numel() > 0;

    /// <summary>Applies the likelihood floor with LowerBound's gradient rule.</summary>
    protected Tensor BoundLikelihood(Tensor likelihood) => likelihood_lower_bound.forward(likelihood);

    /// <summary>CompressAI's <c>quantize</c>: noise, dequantize or symbols, with optional means.</summary>
    public static Tensor Quantize(Tensor x, QuantizeMode mode, Tensor? means = null)
    {
        switch (mode)
        {
            case QuantizeMode.Noise:
                return Quantization.AddUniformNoise(x);
            case QuantizeMode.Dequantize:
                return means is null ? torch.round(x) : torch.round(x - means) + means;
            case QuantizeMode.Symbols:
                return (means is null ? torch.round(x) : torch.round(x - means)).to_type(ScalarType.Int32);
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "invalid quantize mode");
        }
    }

    /// <summary>
    /// <c>round(x - means) + means</c> in value (<see cref="QuantizeMode.Dequantize"/>) with the gradient of the identity
    /// (straight-through estimator): what a bitstream codes, differentiable for a loss on the coded symbols.
    /// </summary>
    public static Tensor StraightThrough(Tensor x, Tensor? means = null) => x + (Quantize(x, QuantizeMode.Dequantize, means) - x).detach();

    /// <summary>CompressAI's <c>dequantize</c>: <c>symbols + means</c>, or a cast to float (the means' dtype when given).</summary>
    public static Tensor Dequantize(Tensor symbols, Tensor? means = null) =>
        means is null ? symbols.to_type(ScalarType.Float32) : symbols.to_type(means.dtype) + means;

    /// <summary>Replaces the three CDF buffers in place (shapes may change), and drops any cached coder table.</summary>
    protected void SetTables(int[] quantizedCdf, int stride, int[] cdfLengths, int[] offsets)
    {
        int count = offsets.Length;
        if (cdfLengths.Length != count || quantizedCdf.Length != count * stride)
            throw new ArgumentException("inconsistent CDF table sizes");
        using (no_grad())
        {
            _quantized_cdf.set_(tensor(quantizedCdf, new long[] { count, stride }, ScalarType.Int32));
            _cdf_length.set_(tensor(cdfLengths, ScalarType.Int32));
            _offset.set_(tensor(offsets, ScalarType.Int32));
        }
        InvalidateCoderTable();
    }

    /// <summary>Called when the tables change; the coding part caches a table built from the buffers.</summary>
    protected internal partial void InvalidateCoderTable();

    /// <summary>The names of this model's buffers whose shape depends on the CDF tables (resized when loading a checkpoint).</summary>
    public virtual IReadOnlyList<string> ResizableBufferNames => new[] { "_offset", "_quantized_cdf", "_cdf_length" };
}
