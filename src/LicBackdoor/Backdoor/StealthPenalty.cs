using static TorchSharp.torch;

namespace LicBackdoor.Backdoor;

/// <summary>
/// The stealth term of the paper's Eq. 3 (and Eq. 10): <c>S = γ·max(MSE(x, T(x)), ε²)</c>. It is the constant γε² while
/// the trigger stays within the budget (zero gradient) and grows as γ·MSE beyond it. The MSE is the mean over every
/// element of the batch on [0, 1] pixels (a batch-averaged scalar).
/// </summary>
/// <param name="Gamma">γ (paper §3.2: "We set γ = 1e4 for all experiments").</param>
/// <param name="Epsilon">ε (paper §3.1 and §3.2: "we choose ε = 0.005"); the budget is MSE ≤ ε², about 46 dB PSNR.</param>
public sealed record StealthPenalty(double Gamma = StealthPenalty.PaperGamma, double Epsilon = StealthPenalty.PaperEpsilon)
{
    /// <summary>γ of Eq. 3 (paper §3.2).</summary>
    public const double PaperGamma = 1e4;

    /// <summary>ε of Eq. 3 (paper §3.1, §3.2).</summary>
    public const double PaperEpsilon = 0.005;

    /// <summary>The MSE budget ε².</summary>
    public double Budget => Epsilon * Epsilon;

    /// <summary><c>γ·max(MSE(clean, poisoned), ε²)</c> as a differentiable scalar.</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public Tensor Compute(Tensor clean, Tensor poisoned)
    {
        using var scope = NewDisposeScope();
        var mse = Mse(clean, poisoned);
        return mse.clamp_min(Budget).mul(Gamma).MoveToOuterDisposeScope();
    }

    /// <summary>The mean squared difference over every element (a scalar tensor).</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public static Tensor Mse(Tensor clean, Tensor poisoned)
    {
        ArgumentNullException.ThrowIfNull(clean);
        ArgumentNullException.ThrowIfNull(poisoned);
        if (!clean.shape.SequenceEqual(poisoned.shape))
            throw new ArgumentException($"shapes differ: [{string.Join(", ", clean.shape)}] vs [{string.Join(", ", poisoned.shape)}]", nameof(poisoned));
        return nn.functional.mse_loss(poisoned, clean);
    }
}
