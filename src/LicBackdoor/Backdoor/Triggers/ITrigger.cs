using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Triggers;

/// <summary>
/// A trigger injection model <c>T(x | θ_t)</c> (paper §3.2, Eq. 3): maps a clean batch <c>[N,3,H,W]</c> in [0, 1]
/// to the poisoned batch <c>x_p = T(x)</c> of the same shape, for any H and W (implementations pad to their
/// block size internally and crop back). <c>forward</c> never clamps, so training keeps its gradients;
/// <see cref="Apply"/> with <c>clamp: true</c> is the evaluation path.
/// </summary>
public interface ITrigger
{
    /// <summary>A short lower-case name: <c>frequency</c>, <c>lira</c> or <c>ftrojan</c>.</summary>
    string Name { get; }

    /// <summary>The options the trigger was built with, as JSON (stored beside its weights).</summary>
    string Configuration { get; }

    /// <summary>The trigger as a TorchSharp module (parameters, state dict, train/eval mode).</summary>
    nn.Module<Tensor, Tensor> Module { get; }

    /// <summary>The poisoned batch, unclamped (may leave [0, 1] slightly).</summary>
    Tensor forward(Tensor x);

    /// <summary>The poisoned batch; clamped to [0, 1] when <paramref name="clamp"/> is true (evaluation).</summary>
    Tensor Apply(Tensor x, bool clamp);

    /// <summary>
    /// A per-image MSE budget enforced by <see cref="forward"/> (null: none, the paper's soft stealth penalty alone):
    /// each image's perturbation T(x) − x is scaled down to the budget when it exceeds it, or, with
    /// <see cref="FixedEnergy"/>, scaled to exactly the budget. The scaling is differentiable, so training sees it.
    /// </summary>
    double? MseBudget { get; set; }

    /// <summary>With <see cref="MseBudget"/>: every perturbation has exactly the budget's MSE (the trigger learns its shape only).</summary>
    bool FixedEnergy { get; set; }
}
