using LicBackdoor.Evaluation;

namespace LicBackdoor.Tests.Evaluation;

public sealed class BjontegaardDeltaTests
{
    private static readonly (double Bpp, double Psnr)[] Hyperprior =
        PublishedCurves.Bmshj2018HyperpriorPoints.Select(p => (p.Bpp, p.Psnr)).ToArray();

    private static (double Bpp, double Psnr)[] Scaled(IEnumerable<(double Bpp, double Psnr)> c, double rate, double dB = 0) =>
        c.Select(p => (p.Bpp * rate, p.Psnr + dB)).ToArray();

    [Theory]
    [InlineData(BdInterpolation.Polynomial)]
    [InlineData(BdInterpolation.Pchip)]
    public void TenPercentMoreRateIsPlusTenPercentAndTheReverseIsMinusNinePointZeroNine(BdInterpolation method)
    {
        // log R_test(P) = log R_anchor(P) + ln 1.1 at every PSNR, and both interpolants shift by exactly that constant,
        // so BD-rate = e^{ln 1.1} - 1 = +10 %; swapped, e^{-ln 1.1} - 1 = 1/1.1 - 1 = -9.0909 %.
        var more = Scaled(Hyperprior, 1.1);
        Assert.Equal(10.0, BjontegaardDelta.Rate(Hyperprior, more, method), 9);
        Assert.Equal((1 / 1.1 - 1) * 100, BjontegaardDelta.Rate(more, Hyperprior, method), 9);
        Assert.Equal(-9.0909090909, BjontegaardDelta.Rate(more, Hyperprior, method), 6);
        // at equal rate the curves differ by a shift in log-rate only, so BD-PSNR is the PSNR change over that shift
        Assert.True(BjontegaardDelta.Psnr(Hyperprior, more, method) < 0);
    }

    [Fact]
    public void ACurveWhosePsnrStallsHasNoBdRateButABdPsnr()
    {
        // cheng2020-anchor-mini as first measured: the PSNR stalls (and dips) while the rate rises.
        (double, double)[] stalled = [(0.1504, 25.238), (0.1981, 26.242), (0.2461, 26.212), (0.3073, 26.311)];
        var e = Assert.Throws<ArgumentException>(() => BjontegaardDelta.Rate(Hyperprior, stalled));
        Assert.Contains("not monotone", e.Message);
        Assert.Throws<ArgumentException>(() => BjontegaardDelta.Rate(stalled, Hyperprior));
        Assert.True(double.IsFinite(BjontegaardDelta.Psnr(Hyperprior, stalled)));
    }

    [Theory]
    [InlineData(BdInterpolation.Polynomial)]
    [InlineData(BdInterpolation.Pchip)]
    public void OneDecibelHigherIsBdPsnrOne(BdInterpolation method)
    {
        var better = Scaled(Hyperprior, 1.0, 1.0);
        Assert.Equal(1.0, BjontegaardDelta.Psnr(Hyperprior, better, method), 9);
        Assert.Equal(-1.0, BjontegaardDelta.Psnr(better, Hyperprior, method), 9);
        Assert.True(BjontegaardDelta.Rate(Hyperprior, better, method) < 0);
        Assert.Equal(0.0, BjontegaardDelta.Rate(Hyperprior, Hyperprior, method), 9);
        Assert.Equal(0.0, BjontegaardDelta.Psnr(Hyperprior, Hyperprior, method), 9);
    }

    [Theory]
    [InlineData(BdInterpolation.Polynomial)]
    [InlineData(BdInterpolation.Pchip)]
    public void CurvesOfDifferentSlopeGiveTheIntegralsWorkedOutByHand(BdInterpolation method)
    {
        // anchor: P = 30 + 5 ln R, test: P = 30 + 6 ln R, both for ln R in [0, 1] (5 points each); both interpolants
        // reproduce straight lines exactly.
        // BD-PSNR = mean over ln R in [0, 1] of (6 - 5) ln R = 0.5 dB.
        // BD-rate: ln R_a = (P - 30) / 5, ln R_t = (P - 30) / 6; common PSNR range [30, 35];
        //   mean of (P - 30)(1/6 - 1/5) = -(1/30) * 2.5 = -1/12, so BD-rate = e^{-1/12} - 1 = -7.996 %.
        var lnR = new[] { 0.0, 0.2, 0.5, 0.8, 1.0 };
        var anchor = lnR.Select(l => (Math.Exp(l), 30 + 5 * l)).ToArray();
        var test = lnR.Select(l => (Math.Exp(l), 30 + 6 * l)).ToArray();
        Assert.Equal(0.5, BjontegaardDelta.Psnr(anchor, test, method), 9);
        Assert.Equal((Math.Exp(-1.0 / 12) - 1) * 100, BjontegaardDelta.Rate(anchor, test, method), 9);
        // a parallel line 1 dB higher: BD-PSNR 1, and at equal PSNR ln R is lower by 1/5: BD-rate e^{-0.2} - 1
        var parallel = lnR.Select(l => (Math.Exp(l), 31 + 5 * l)).ToArray();
        Assert.Equal(1.0, BjontegaardDelta.Psnr(anchor, parallel, method), 9);
        Assert.Equal((Math.Exp(-0.2) - 1) * 100, BjontegaardDelta.Rate(anchor, parallel, method), 9);
    }

    [Fact]
    public void ACubicInLogRateIsFittedExactlyOverTheOverlapOnly()
    {
        // P(l) = 30 + 4l - l^2 + 0.5 l^3 with l = ln R; test = anchor + 2 dB but only on part of the anchor's range.
        static double P(double l) => 30 + 4 * l - l * l + 0.5 * l * l * l;
        var anchor = new[] { -2.0, -1.0, 0.0, 1.0, 2.0 }.Select(l => (Math.Exp(l), P(l))).ToArray();
        var test = new[] { -0.5, 0.0, 0.5, 1.0, 1.5, 3.0 }.Select(l => (Math.Exp(l), P(l) + 2)).ToArray();
        Assert.Equal(2.0, BjontegaardDelta.Psnr(anchor, test), 9);
    }

    [Fact]
    public void PchipAndPolynomialAgreeOnSmoothPublishedCurves()
    {
        var cheng = PublishedCurves.Cheng2020AnchorPoints.Select(p => (p.Bpp, p.Psnr)).ToArray();
        double poly = BjontegaardDelta.Rate(Hyperprior, cheng), pchip = BjontegaardDelta.Rate(Hyperprior, cheng, BdInterpolation.Pchip);
        Assert.InRange(poly, -25, -5); // cheng2020-anchor needs fewer bits than the hyperprior
        Assert.True(Math.Abs(poly - pchip) < 1.0, $"polynomial {poly} % vs PCHIP {pchip} %");
        Assert.True(BjontegaardDelta.Psnr(Hyperprior, cheng) > 0.3);
    }

    [Fact]
    public void TooFewPointsOrNoOverlapAreErrors()
    {
        var three = Hyperprior.Take(3).ToArray();
        var e = Assert.Throws<ArgumentException>(() => BjontegaardDelta.Rate(Hyperprior, three));
        Assert.Contains("at least 4 points", e.Message);
        // duplicates do not count twice
        var dup = Hyperprior.Take(3).Concat(Hyperprior.Take(1)).ToArray();
        Assert.Throws<ArgumentException>(() => BjontegaardDelta.Psnr(dup, Hyperprior));
        // far apart in both rate and PSNR
        var far = Scaled(Hyperprior, 100, 30);
        Assert.Contains("do not overlap", Assert.Throws<ArgumentException>(() => BjontegaardDelta.Rate(Hyperprior, far)).Message);
        Assert.Contains("do not overlap", Assert.Throws<ArgumentException>(() => BjontegaardDelta.Psnr(Hyperprior, far)).Message);
        Assert.Throws<ArgumentException>(() => BjontegaardDelta.Rate(Hyperprior, Hyperprior.Select(p => (0.0, p.Psnr)).ToArray()));
        Assert.Throws<ArgumentException>(() => BjontegaardDelta.Psnr(Hyperprior, Hyperprior.Select(p => (p.Bpp, double.NaN)).ToArray()));
    }
}
