using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Objectives;

public sealed class ObjectiveTests : TorchTest
{
    private const double Lambda = 0.0067;

    /// <summary>A hand-made input: clean and poisoned reconstructions with known MSEs and rates.</summary>
    private static ObjectiveInput Input(double cleanBpp, double cleanMse, double poisonedBpp, double poisonedMseVsPoisoned, double poisonedMseVsClean)
    {
        var x = full(1, 3, 4, 4, 0.5f);
        var xp = full(1, 3, 4, 4, 0.5f + (float)Math.Sqrt(poisonedMseVsClean) - (float)Math.Sqrt(poisonedMseVsPoisoned));
        var cleanOut = new CodecOutput(x + (float)Math.Sqrt(cleanMse), Likelihoods(cleanBpp, 16));
        var poisonedOut = new CodecOutput(x + (float)Math.Sqrt(poisonedMseVsClean), Likelihoods(poisonedBpp, 16));
        var rd = RateDistortionLoss.Compute(cleanOut, x, Lambda);
        return new ObjectiveInput(x, cleanOut, rd, xp, poisonedOut, Lambda);
    }

    /// <summary>One likelihood tensor whose −log₂ sum is bpp · pixels.</summary>
    private static Dictionary<string, Tensor> Likelihoods(double bpp, int pixels) =>
        new() { ["y"] = full(1, 1, 1, 1, (float)Math.Pow(2, -bpp * pixels)) };

    [Fact]
    public void DynamicBppAttackIsEq6MinusTheCleanLoss()
    {
        var input = Input(cleanBpp: 0.5, cleanMse: 1e-3, poisonedBpp: 3.0, poisonedMseVsPoisoned: 4e-3, poisonedMseVsClean: 2e-3);
        var terms = new BppObjective().Compute(input);
        double dClean = 255 * 255 * 1e-3, dPoisoned = 255 * 255 * 2e-3;   // f(x_p) against the clean x
        double eq6 = 0.5 + Lambda * Math.Max(dClean, dPoisoned) - 0.01 * 3.0;
        double cleanLoss = 0.5 + Lambda * dClean;
        Assert.Equal(eq6 - cleanLoss, terms.Attack.item<float>(), 3);
        Assert.Equal(3.0, terms.Logged.Single(t => t.Name == "bpp_p").Value.item<float>(), 3);

        // Poisoned distortion below the clean one: only the rate term is left.
        var better = Input(cleanBpp: 0.5, cleanMse: 1e-3, poisonedBpp: 3.0, poisonedMseVsPoisoned: 5e-4, poisonedMseVsClean: 5e-4);
        Assert.Equal(-0.03, new BppObjective().Compute(better).Attack.item<float>(), 4);
    }

    [Fact]
    public void StaticBppAttackIsEq4()
    {
        var input = Input(0.5, 1e-3, 3.0, 4e-3, 2e-3);
        var terms = new BppObjective(Dynamic: false, Alpha: 2).Compute(input);
        Assert.Equal(2 * Lambda * 255 * 255 * 2e-3 - 0.01 * 3.0, terms.Attack.item<float>(), 3);
    }

    [Fact]
    public void CappedBppAttackStopsRewardingBitsAboveTheCap()
    {
        var input = Input(0.5, 1e-3, 3.0, 5e-4, 5e-4);   // poisoned distortion below the clean one: rate term only
        Assert.Equal(-0.01 * 2.0, new BppObjective(Cap: 2).Compute(input).Attack.item<float>(), 4);
        Assert.Equal(-0.01 * 3.0, new BppObjective(Cap: 4).Compute(input).Attack.item<float>(), 4);
        // Above the cap the rate term has no gradient; below it, the same gradient as without a cap.
        var rate = tensor(3.0f).requires_grad_(true);
        rate.clamp_max(2.0).backward();
        Assert.Equal(0f, rate.grad!.item<float>());
        Assert.Throws<ArgumentOutOfRangeException>(() => new BppObjective(Cap: 0));
    }

    [Fact]
    public void DynamicPsnrAttackIsEq7MinusTheCleanLoss()
    {
        var input = Input(cleanBpp: 0.5, cleanMse: 1e-3, poisonedBpp: 0.8, poisonedMseVsPoisoned: 0.09, poisonedMseVsClean: 0.1);
        var terms = new PsnrObjective().Compute(input);
        double psnr = 10;                                    // MSE 0.1 against the clean image
        double eq7 = Math.Max(0.5, 0.8) + Lambda * 255 * 255 * 1e-3 + 0.1 * Lambda * psnr;
        double cleanLoss = 0.5 + Lambda * 255 * 255 * 1e-3;
        Assert.Equal(eq7 - cleanLoss, terms.Attack.item<float>(), 3);
        Assert.Equal(psnr, terms.Logged.Single(t => t.Name == "psnr_p").Value.item<float>(), 3);

        var cheaper = Input(0.5, 1e-3, 0.3, 0.09, 0.1);      // poisoned rate below clean: no rate term
        Assert.Equal(0.1 * Lambda * psnr, new PsnrObjective().Compute(cheaper).Attack.item<float>(), 4);
    }

    [Fact]
    public void RateRatioMovesTheDynamicRateHingeBelowTheCleanRate()
    {
        // Poisoned 0.45 bpp against clean 0.5: no rate term in Eq. 7, 0.45 − 0.8·0.5 = 0.05 bpp of it at ρ = 0.8.
        var input = Input(cleanBpp: 0.5, cleanMse: 1e-3, poisonedBpp: 0.45, poisonedMseVsPoisoned: 0.09, poisonedMseVsClean: 0.1);
        double psnrTerm = 0.1 * Lambda * 10;
        Assert.Equal(psnrTerm, new PsnrObjective().Compute(input).Attack.item<float>(), 4);
        Assert.Equal(0.05 + psnrTerm, new PsnrObjective(Ratio: 0.8).Compute(input).Attack.item<float>(), 4);
        // Below ρ·R(x) it is gone again.
        Assert.Equal(psnrTerm, new PsnrObjective(Ratio: 0.8).Compute(Input(0.5, 1e-3, 0.39, 0.09, 0.1)).Attack.item<float>(), 4);
        Assert.Contains("ρ = 0.8", new PsnrObjective(Ratio: 0.8).Description);
        // The clean rate is a target: no gradient reaches it through the hinge (at ρ = 1, the paper's max, it does).
        var active = Input(0.5, 1e-3, 0.8, 0.09, 0.1);
        var cleanLik = active.CleanOutput.Likelihoods["y"].clone().requires_grad_(true);
        var cleanOut = new CodecOutput(active.CleanOutput.XHat, new Dictionary<string, Tensor> { ["y"] = cleanLik });
        var poisonedLik = active.PoisonedOutput.Likelihoods["y"].clone().requires_grad_(true);
        var withLiveClean = active with
        {
            CleanOutput = cleanOut, CleanRd = RateDistortionLoss.Compute(cleanOut, active.Clean, Lambda),
            PoisonedOutput = new CodecOutput(active.PoisonedOutput.XHat, new Dictionary<string, Tensor> { ["y"] = poisonedLik }),
        };
        new PsnrObjective(Ratio: 0.8).Compute(withLiveClean).Attack.backward();
        Assert.True(cleanLik.grad is null || cleanLik.grad.abs().sum().item<float>() == 0);
        Assert.True(poisonedLik.grad!.abs().sum().item<float>() > 0);   // the hinge is active and pushes the poisoned rate
        var paper = cleanLik.detach().clone().requires_grad_(true);
        var paperOut = new CodecOutput(active.CleanOutput.XHat, new Dictionary<string, Tensor> { ["y"] = paper });
        new PsnrObjective().Compute(active with { CleanOutput = paperOut, CleanRd = RateDistortionLoss.Compute(paperOut, active.Clean, Lambda) }).Attack.backward();
        Assert.True(paper.grad!.abs().sum().item<float>() > 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PsnrObjective(Dynamic: false, Ratio: 0.8));
    }

    [Fact]
    public void StaticPsnrAttackIsEq5()
    {
        var input = Input(0.5, 1e-3, 0.8, 0.09, 0.1);
        var terms = new PsnrObjective(Dynamic: false, Beta: 0.2).Compute(input);
        Assert.Equal(0.8 + 0.2 * Lambda * 10, terms.Attack.item<float>(), 3);
    }

    [Fact]
    public void FlooredPsnrAttackStopsRewardingImagesBelowTheFloor()
    {
        // Two poisoned images decoded at 5 dB and 20 dB (MSE 10^-0.5 and 10^-2 against the clean 0.2 grey, inside [0, 1]).
        var x = full(2, 3, 4, 4, 0.2f);
        var offsets = tensor(new[] { (float)Math.Sqrt(Math.Pow(10, -0.5)), 0.1f }).reshape(2, 1, 1, 1);
        var xHat = (x + offsets).requires_grad_(true);
        var likelihoods = new Dictionary<string, Tensor> { ["y"] = full(2, 1, 1, 1, 0.5f) };
        var clean = new CodecOutput(x.clone(), likelihoods);
        var input = new ObjectiveInput(x, clean, RateDistortionLoss.Compute(clean, x, Lambda), x, new CodecOutput(xHat, likelihoods), Lambda);
        var floored = new PsnrObjective(Floor: 8).Compute(input);
        Assert.Equal(0.1 * Lambda * (8 + 20) / 2, floored.Attack.item<float>(), 5);
        floored.Attack.backward();
        Assert.Equal(0f, xHat.grad![0].abs().sum().item<float>());   // below the floor: no pull
        Assert.True(xHat.grad![1].abs().sum().item<float>() > 0);
        // A floor below every image's PSNR is the mean of per-image PSNRs; no floor is the batch PSNR (logged either way).
        Assert.Equal(0.1 * Lambda * (5 + 20) / 2, new PsnrObjective(Floor: 1).Compute(input).Attack.item<float>(), 5);
        double batch = -10 * Math.Log10((Math.Pow(10, -0.5) + 0.01) / 2);
        Assert.Equal(0.1 * Lambda * batch, new PsnrObjective().Compute(input).Attack.item<float>(), 5);
        Assert.Equal(batch, floored.Logged.Single(t => t.Name == "psnr_p").Value.item<float>(), 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PsnrObjective(Floor: -1));
    }

    [Fact]
    public void AttackTermsHaveGradientsThroughThePoisonedOutput()
    {
        var input = Input(0.5, 1e-3, 0.8, 0.09, 0.1);
        var xHat = input.PoisonedOutput.XHat.clone().requires_grad_(true);
        var withGrad = input with { PoisonedOutput = new CodecOutput(xHat, input.PoisonedOutput.Likelihoods) };
        new PsnrObjective().Compute(withGrad).Attack.backward();
        Assert.True(xHat.grad!.abs().sum().item<float>() > 0);
    }

    [Theory]
    [InlineData("bpp", "bpp")]
    [InlineData("BPP:dynamic", "bpp")]
    [InlineData("bpp:static", "bpp:static")]
    [InlineData("psnr", "psnr")]
    [InlineData("psnr:static,alpha=0.5", "psnr:static,alpha=0.5")]
    [InlineData("psnr,beta=0.5", "psnr,beta=0.5")]
    [InlineData("psnr,beta=0.1", "psnr")]
    [InlineData("bpp,beta=0.3,cap=12", "bpp,beta=0.3,cap=12")]
    [InlineData("bpp:static,alpha=0,cap=8", "bpp:static,alpha=0,cap=8")]
    [InlineData("psnr,beta=3,floor=8", "psnr,beta=3,floor=8")]
    [InlineData("psnr:static,floor=6.5", "psnr:static,floor=6.5")]
    [InlineData("psnr,beta=20,floor=8,ratio=0.85", "psnr,beta=20,floor=8,ratio=0.85")]
    [InlineData("psnr,ratio=1", "psnr")]
    public void ParsesSpecifications(string spec, string name) => Assert.Equal(name, BackdoorObjective.Parse(spec).Name);

    [Theory]
    [InlineData("ssim")]
    [InlineData("bpp,beta")]
    [InlineData("bpp,beta=x")]
    [InlineData("bpp,gamma=1")]
    [InlineData("bpp,beta=NaN")]
    [InlineData("bpp,cap=0")]
    [InlineData("psnr,cap=3")]
    [InlineData("psnr,floor=0")]
    [InlineData("bpp,floor=8")]
    [InlineData("psnr,ratio=0")]
    [InlineData("psnr:static,ratio=0.8")]
    [InlineData("bpp,ratio=0.8")]
    public void RejectsBadSpecifications(string spec) => Assert.Throws<ArgumentException>(() => BackdoorObjective.Parse(spec));
}
