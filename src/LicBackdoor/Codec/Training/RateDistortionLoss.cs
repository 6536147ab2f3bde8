using LicBackdoor.Codec.Models;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Training;

/// <summary>The terms of the rate-distortion loss for one batch.</summary>
public sealed record RdTerms(Tensor Loss, Tensor Bpp, Tensor Mse)
{
    /// <summary>The same terms cut from the autograd graph.</summary>
    public RdTerms Detach() => new(Loss.detach(), Bpp.detach(), Mse.detach());
}

/// <summary>
/// CompressAI's <c>RateDistortionLoss</c> (metric MSE): <c>L = λ·255²·MSE + bpp</c>, where
/// <c>bpp = Σ ln(likelihood) / (-ln 2 · N·H·W)</c> over every likelihood tensor (Ballé et al. 2018, Eq. 2).
/// </summary>
public static class RateDistortionLoss
{
    public static RdTerms Compute(CodecOutput output, Tensor target, double lambda)
    {
        long pixels = target.shape[0] * target.shape[2] * target.shape[3];
        Tensor? bits = null;
        foreach (var lik in output.Likelihoods.Values)
        {
            var b = torch.log(lik).sum();
            bits = bits is null ? b : bits + b;
        }
        var bpp = bits! / (-Math.Log(2) * pixels);
        var mse = nn.functional.mse_loss(output.XHat, target);
        var loss = lambda * 255 * 255 * mse + bpp;
        return new RdTerms(loss, bpp, mse);
    }
}
