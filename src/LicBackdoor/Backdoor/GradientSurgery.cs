using static TorchSharp.torch;

namespace LicBackdoor.Backdoor;

/// <summary>
/// PCGrad's projection for two losses sharing parameters (Yu et al., "Gradient Surgery for Multi-Task Learning", 2020),
/// used by <see cref="AttackOptions.ProjectConflicts"/>: the attack gradient loses its component along the clean
/// gradient when the two conflict; the clean gradient is kept whole.
/// </summary>
public static class GradientSurgery
{
    /// <summary>
    /// The parameters' <c>grad</c> holds the gradient of the whole loss g = g_c + g_a, and <paramref name="cleanGrads"/>
    /// holds g_c (entries may be undefined where the clean loss does not reach a parameter: zero). With g_a = g − g_c,
    /// when g_a·g_c &lt; 0 the grads become g_c + g_a − (g_a·g_c / |g_c|²)·g_c (all parameters taken as one vector);
    /// otherwise they are left as they are. Returns the cosine of g_a and g_c before the projection (NaN when either is
    /// zero). Call under <c>no_grad</c>.
    /// </summary>
    public static double ProjectConflict(IReadOnlyList<Tensor> parameters, IList<Tensor> cleanGrads)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(cleanGrads);
        if (cleanGrads.Count != parameters.Count) throw new ArgumentException($"{cleanGrads.Count} clean gradients for {parameters.Count} parameters");
        using var scope = NewDisposeScope();
        double dot = 0, cleanSq = 0, attackSq = 0;
        var pairs = new List<(Tensor Grad, Tensor Clean)>();
        for (int i = 0; i < parameters.Count; i++)
        {
            var g = parameters[i].grad;
            if (g is null) continue;
            var c = cleanGrads[i] is { IsInvalid: false } t ? t : zeros_like(g);
            var a = (g - c).to(float64);
            var c64 = c.to(float64);
            dot += (a * c64).sum().item<double>();
            cleanSq += c64.square().sum().item<double>();
            attackSq += a.square().sum().item<double>();
            pairs.Add((g, c));
        }
        double cos = cleanSq > 0 && attackSq > 0 ? dot / Math.Sqrt(cleanSq * attackSq) : double.NaN;
        if (dot < 0 && cleanSq > 0)
        {
            double k = dot / cleanSq;
            foreach (var (g, c) in pairs) g.sub_(c * k);
        }
        return cos;
    }
}
