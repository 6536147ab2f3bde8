using LicBackdoor.Codec.Ops;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// The fully factorized entropy bottleneck of Ballé et al., "Variational image compression with a scale
/// hyperprior" (ICLR 2018), Appendix 6.1: a per-channel non-parametric cumulative density built from a
/// small monotone network (filters (3,3,3,3)). Parameters <c>quantiles</c> [C,1,3] (trained by the aux
/// loss), <c>matrices.i</c>, <c>biases.i</c>, <c>factors.i</c>; buffers <c>target</c>, the CDF tables
/// and <c>likelihood_lower_bound.bound</c>; the keys match CompressAI's.
/// </summary>
public sealed partial class EntropyBottleneck : EntropyModel
{
    private static readonly int[] DefaultFilters = { 3, 3, 3, 3 };

    private readonly Parameter quantiles;
    private readonly ParameterList matrices;
    private readonly ParameterList biases;
    private readonly ParameterList factors;
    private readonly Tensor target;

    public EntropyBottleneck(int channels, double tailMass = DefaultTailMass, double initScale = 10,
        IReadOnlyList<int>? filters = null, double likelihoodBound = DefaultLikelihoodBound)
        : base(nameof(EntropyBottleneck), likelihoodBound, tailMass)
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels));
        Channels = channels;
        var f = new List<int> { 1 };
        f.AddRange(filters ?? (IReadOnlyList<int>)DefaultFilters);
        f.Add(1);
        Widths = f.ToArray();
        int layers = f.Count - 1;
        double scale = Math.Pow(initScale, 1.0 / layers);
        matrices = new ParameterList();
        biases = new ParameterList();
        factors = new ParameterList();
        for (int i = 0; i < layers; i++)
        {
            double init = Math.Log(Math.Exp(1.0 / scale / f[i + 1]) - 1.0);
            matrices.Add(new Parameter(full(channels, f[i + 1], f[i], (float)init)));
            biases.Add(new Parameter(empty(channels, f[i + 1], 1).uniform_(-0.5, 0.5)));
            if (i < layers - 1) factors.Add(new Parameter(zeros(channels, f[i + 1], 1)));
        }
        quantiles = new Parameter(tensor(new float[] { -(float)initScale, 0, (float)initScale }).repeat(channels, 1, 1));
        double t = Math.Log(2 / tailMass - 1);
        target = tensor(new[] { -(float)t, 0f, (float)t });
        register_parameter("quantiles", quantiles);
        register_module("matrices", matrices);
        register_module("biases", biases);
        register_module("factors", factors);
        register_buffer("target", target);
        RegisterEntropyBuffers();
    }

    public int Channels { get; }

    /// <summary>Layer widths (1, filters…, 1).</summary>
    public IReadOnlyList<int> Widths { get; }

    /// <summary>The quantiles parameter [C,1,3] (lower tail, median, upper tail).</summary>
    public Parameter Quantiles => quantiles;

    /// <summary>Per-channel medians, <c>quantiles[:,0,1]</c>, shaped [C].</summary>
    public Tensor Medians() => quantiles[.., 0, 1].detach();

    /// <summary>The cumulative logits of the density model for <paramref name="v"/> [C,1,L].</summary>
    internal Tensor LogitsCumulative(Tensor v, bool stopGradient)
    {
        var logits = v;
        for (int i = 0; i < matrices.Count; i++)
        {
            Tensor m = matrices[i], b = biases[i];
            if (stopGradient) { m = m.detach(); b = b.detach(); }
            logits = torch.matmul(nn.functional.softplus(m), logits) + b;
            if (i < factors.Count)
            {
                Tensor fa = factors[i];
                if (stopGradient) fa = fa.detach();
                logits = logits + torch.tanh(fa) * torch.tanh(logits);
            }
        }
        return logits;
    }

    /// <summary>Likelihood of integer bins centred on <paramref name="v"/> [C,1,L], with the bin edges' logits.</summary>
    internal (Tensor Likelihood, Tensor Lower, Tensor Upper) Likelihood(Tensor v, bool stopGradient)
    {
        var lower = LogitsCumulative(v - 0.5, stopGradient);
        var upper = LogitsCumulative(v + 0.5, stopGradient);
        return (torch.sigmoid(upper) - torch.sigmoid(lower), lower, upper);
    }

    /// <summary>
    /// The auxiliary loss <c>Σ |logits(quantiles) - target|</c>: only <c>quantiles</c> receives gradients; it
    /// drives the tails to <c>cdf = tail_mass/2</c> and <c>1 - tail_mass/2</c> and the median to 0.5.
    /// </summary>
    public Tensor Loss()
    {
        var logits = LogitsCumulative(quantiles, stopGradient: true);
        return (logits - target).abs().sum();
    }

    /// <summary>
    /// Quantises <paramref name="x"/> [B,C,…] (noise when training, <c>round(x - median) + median</c> otherwise)
    /// and returns it with its likelihood, floored at 1e-9.
    /// </summary>
    /// <param name="x">The values.</param>
    /// <param name="training">Quantise as in training (noise); default: the module's mode.</param>
    /// <param name="straightThrough">Outside training, pass gradients straight through the rounding (<see cref="EntropyModel.StraightThrough"/>).</param>
    public (Tensor Output, Tensor Likelihood) Forward(Tensor x, bool? training = null, bool straightThrough = false)
    {
        bool train = training ?? this.training;
        if (x.dim() < 2 || x.shape[1] != Channels)
            throw new ArgumentException($"EntropyBottleneck expects [B,{Channels},…], got [{string.Join(",", x.shape)}]");
        int nd = (int)x.dim();
        var perm = new long[nd];
        perm[0] = 1; perm[1] = 0;
        for (int i = 2; i < nd; i++) perm[i] = i;
        var permuted = x.permute(perm).contiguous();
        var shape = permuted.shape;
        var values = permuted.reshape(Channels, 1, -1);
        var medians = quantiles[.., .., 1..2].detach(); // [C,1,1]
        var outputs = train ? Quantize(values, QuantizeMode.Noise)
            : straightThrough ? StraightThrough(values, medians) : Quantize(values, QuantizeMode.Dequantize, medians);
        var (lik, _, _) = Likelihood(outputs, stopGradient: false);
        lik = BoundLikelihood(lik);
        var outShaped = outputs.reshape(shape).permute(perm).contiguous();
        var likShaped = lik.reshape(shape).permute(perm).contiguous();
        return (outShaped, likShaped);
    }

    /// <summary>
    /// Sets <c>quantiles</c> to where the learned cumulative reaches its targets (tail_mass/2, 1/2,
    /// 1 - tail_mass/2) by bisection per channel, instead of relying on the aux loss having converged
    /// (CompressAI's <c>update(update_quantiles=True)</c>, since 1.2.5). The cumulative logits are monotone in
    /// the input, so 64 halvings of [-1e5, 1e5] pin each quantile to float precision.
    /// </summary>
    public void UpdateQuantiles()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var shape = new long[] { Channels, 1, 3 };
        var lo = full(shape, -1e5f);
        var hi = full(shape, 1e5f);
        var tgt = target.reshape(1, 1, 3).expand(shape);
        for (int i = 0; i < 64; i++)
        {
            var mid = (lo + hi) * 0.5f;
            var above = LogitsCumulative(mid, stopGradient: true).gt(tgt);
            hi = torch.where(above, mid, hi);
            lo = torch.where(above, lo, mid);
        }
        quantiles.copy_((lo + hi) * 0.5f);
    }

    /// <summary>
    /// Builds the quantised CDF tables from the current density (CompressAI <c>update</c>). Returns false
    /// without doing anything when tables exist and <paramref name="force"/> is false.
    /// </summary>
    public bool Update(bool force = false)
    {
        if (HasTables && !force) return false;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var q = quantiles.detach();
        var medians = q[.., 0, 1];
        var minima = torch.clamp_min(torch.ceil(medians - q[.., 0, 0]).to_type(ScalarType.Int32), 0);
        var maxima = torch.clamp_min(torch.ceil(q[.., 0, 2] - medians).to_type(ScalarType.Int32), 0);
        var pmfStart = medians - minima;
        var pmfLength = maxima + minima + 1;
        int maxLength = pmfLength.max().item<int>();
        var samples = torch.arange(maxLength, dtype: ScalarType.Float32).unsqueeze(0) + pmfStart.unsqueeze(1); // [C,L]
        samples = samples.unsqueeze(1); // [C,1,L]
        var (pmf, lower, upper) = Likelihood(samples, stopGradient: true);
        pmf = pmf[.., 0, ..];
        var tail = torch.sigmoid(lower[.., 0, ..1]) + torch.sigmoid(-upper[.., 0, (maxLength - 1)..maxLength]); // [C,1]
        float[] pmfData = pmf.contiguous().data<float>().ToArray();
        float[] tailData = tail.contiguous().data<float>().ToArray();
        int[] lengths = pmfLength.data<int>().ToArray();
        int[] minimaArr = minima.data<int>().ToArray();
        int stride = maxLength + 2;
        var cdf = new int[Channels * stride];
        var cdfLengths = new int[Channels];
        var offsets = new int[Channels];
        var buffer = new float[maxLength + 1];
        for (int c = 0; c < Channels; c++)
        {
            int len = lengths[c];
            Array.Copy(pmfData, c * maxLength, buffer, 0, len);
            buffer[len] = tailData[c];
            var row = QuantizedCdf.FromPmf(buffer.AsSpan(0, len + 1));
            row.CopyTo(cdf, c * stride);
            cdfLengths[c] = len + 2;
            offsets[c] = -minimaArr[c];
        }
        SetTables(cdf, stride, cdfLengths, offsets);
        return true;
    }
}
