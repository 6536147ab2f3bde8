using static TorchSharp.torch;

namespace LicBackdoor.Codec.Training;

/// <summary>
/// Adam (Kingma and Ba 2015) with PyTorch's update order and defaults (β = 0.9, 0.999; ε = 1e-8), written
/// out so its whole state (step and moments, keyed by parameter name) can be saved in a checkpoint and a
/// resumed run continues bit for bit. <see cref="WeightDecay"/> is PyTorch's <c>Adam(weight_decay=...)</c>:
/// classic L2, <c>g + wd·p</c> added to the gradient before the moments (not AdamW's decoupled decay).
/// </summary>
public sealed class Adam : IDisposable
{
    private readonly List<(string Name, TorchSharp.Modules.Parameter P)> parameters;
    private readonly Dictionary<string, (Tensor M, Tensor V)> moments = new();
    private readonly double beta1, beta2, eps;

    public Adam(IEnumerable<(string Name, TorchSharp.Modules.Parameter P)> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        this.parameters = parameters.ToList();
        LearningRate = lr; this.beta1 = beta1; this.beta2 = beta2; this.eps = eps;
    }

    public double LearningRate { get; set; }

    /// <summary>L2 weight decay added to every gradient (PyTorch's Adam <c>weight_decay</c>); 0 by default.</summary>
    public double WeightDecay
    {
        get => weightDecay;
        init => weightDecay = value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(WeightDecay), value, "must be finite and non-negative");
    }

    private readonly double weightDecay;
    public long Step { get; private set; }
    public IReadOnlyList<(string Name, TorchSharp.Modules.Parameter P)> Parameters => parameters;

    public void ZeroGrad()
    {
        foreach (var (_, p) in parameters) p.grad?.zero_();
    }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Update()
    {
        Step++;
        double bc1 = 1 - Math.Pow(beta1, Step), bc2 = 1 - Math.Pow(beta2, Step);
        using var _ = no_grad();
        // Explicit scalars, held until the end of the update: an implicit conversion's temporary Scalar can be finalised
        // by a GC on another thread while libtorch still reads it (TorchSharp's dispose scopes do not track Scalars).
        using Scalar b1 = beta1, oneMinusB1 = 1 - beta1, b2 = beta2, oneMinusB2 = 1 - beta2, epsilon = eps;
        using Scalar decay = weightDecay, sqrtBc2 = Math.Sqrt(bc2), step = -LearningRate / bc1;
        foreach (var (name, p) in parameters)
        {
            using var grad = p.grad;
            if (grad is null) continue;
            using var decayed = weightDecay != 0 ? grad.add(p, alpha: decay) : null;
            var g = decayed ?? grad;
            if (!moments.TryGetValue(name, out var mv))
            {
                mv = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
                moments[name] = mv;
            }
            mv.M.mul_(b1).add_(g, alpha: oneMinusB1);
            mv.V.mul_(b2).addcmul_(g, g, value: oneMinusB2);
            using var denom = mv.V.sqrt().div_(sqrtBc2).add_(epsilon);
            p.addcdiv_(mv.M, denom, value: step);
        }
    }

    /// <summary>The state as named tensors (prefix.m.NAME, prefix.v.NAME) plus the step count.</summary>
    public void SaveState(string prefix, Dictionary<string, Tensor> into, Dictionary<string, string> metadata)
    {
        foreach (var (name, (m, v)) in moments)
        {
            into[$"{prefix}.m.{name}"] = m;
            into[$"{prefix}.v.{name}"] = v;
        }
        metadata[$"{prefix}.step"] = Step.ToString(System.Globalization.CultureInfo.InvariantCulture);
        metadata[$"{prefix}.lr"] = LearningRate.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Restores what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(string prefix, IReadOnlyDictionary<string, Tensor> from, IReadOnlyDictionary<string, string> metadata)
    {
        Step = long.Parse(metadata[$"{prefix}.step"], System.Globalization.CultureInfo.InvariantCulture);
        LearningRate = double.Parse(metadata[$"{prefix}.lr"], System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (m, v) in moments.Values) { m.Dispose(); v.Dispose(); }
        moments.Clear();
        foreach (var (name, p) in parameters)
            if (from.TryGetValue($"{prefix}.m.{name}", out var m) && from.TryGetValue($"{prefix}.v.{name}", out var v))
            {
                if (!m.shape.SequenceEqual(p.shape) || !v.shape.SequenceEqual(p.shape))
                    throw new ArgumentException($"optimizer state for {name} has the wrong shape");
                moments[name] = (m.clone().DetachFromDisposeScope(), v.clone().DetachFromDisposeScope());
            }
    }

    public void Dispose()
    {
        foreach (var (m, v) in moments.Values) { m.Dispose(); v.Dispose(); }
        moments.Clear();
    }
}

/// <summary>
/// PyTorch's <c>ReduceLROnPlateau</c> in "min" mode with relative threshold (defaults factor 0.1,
/// patience 10, threshold 1e-4), with a serialisable state.
/// </summary>
public sealed class ReduceLrOnPlateau
{
    public ReduceLrOnPlateau(double factor = 0.1, int patience = 10, double threshold = 1e-4, double minLr = 0)
    {
        Factor = factor; Patience = patience; Threshold = threshold; MinLr = minLr;
    }

    public double Factor { get; }
    public int Patience { get; }
    public double Threshold { get; }
    public double MinLr { get; }
    public double Best { get; set; } = double.PositiveInfinity;
    public int BadEpochs { get; set; }

    /// <summary>Feeds one validation loss; returns the new learning rate.</summary>
    public double Step(double metric, double lr)
    {
        if (metric < Best * (1 - Threshold)) { Best = metric; BadEpochs = 0; return lr; }
        if (++BadEpochs > Patience) { BadEpochs = 0; return Math.Max(lr * Factor, MinLr); }
        return lr;
    }
}
