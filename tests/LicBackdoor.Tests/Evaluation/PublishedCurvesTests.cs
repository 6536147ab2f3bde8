using LicBackdoor.Evaluation;

namespace LicBackdoor.Tests.Evaluation;

public sealed class PublishedCurvesTests
{
    [Fact]
    public void PublishedPointsAreCompleteAndMonotone()
    {
        Assert.Equal(8, PublishedCurves.Bmshj2018HyperpriorPoints.Count);
        Assert.Equal(6, PublishedCurves.Cheng2020AnchorPoints.Count);
        foreach (var points in new[] { PublishedCurves.Bmshj2018HyperpriorPoints, PublishedCurves.Cheng2020AnchorPoints })
        {
            for (int i = 1; i < points.Count; i++)
            {
                Assert.True(points[i].Bpp > points[i - 1].Bpp);
                Assert.True(points[i].Psnr > points[i - 1].Psnr);
                Assert.True(points[i].MsSsim > points[i - 1].MsSsim);
            }
            Assert.All(points, p => { Assert.InRange(p.Bpp, 0.1, 2); Assert.InRange(p.Psnr, 27, 41); Assert.InRange(p.MsSsim, 0.9, 1); });
        }
        foreach (var curve in PublishedCurves.All)
        {
            Assert.Equal(RdCurveKind.Published, curve.Kind);
            Assert.True(curve.IsMonotone);
            Assert.Contains("compressai-spec", curve.Source);
        }
        // spot checks against compressai-spec §7
        Assert.Equal((0.47836, 32.838, 0.9749), PublishedCurves.Bmshj2018HyperpriorPoints[3]);
        Assert.Equal((0.80574, 36.704, 0.9893), PublishedCurves.Cheng2020AnchorPoints[5]);
        Assert.Equal("q4", PublishedCurves.Bmshj2018Hyperprior.Points[3].Setting);
    }

    [Fact]
    public void GapIsInterpolatedInLogBppWithinThePublishedRangeOnly()
    {
        var h = PublishedCurves.Bmshj2018Hyperprior;
        Assert.Equal(32.838, PublishedCurves.PsnrAt(h, 0.47836)!.Value, 9);
        // the geometric mean of two neighbouring rates lies halfway in log-bpp
        double mid = Math.Sqrt(0.31986 * 0.47836);
        Assert.Equal((30.972 + 32.838) / 2, PublishedCurves.PsnrAt(h, mid)!.Value, 9);
        Assert.Equal(-1.5, PublishedCurves.PsnrGap(h, 0.47836, 32.838 - 1.5)!.Value, 9);
        Assert.Null(PublishedCurves.PsnrAt(h, 0.1));
        Assert.Null(PublishedCurves.PsnrAt(h, 1.7));
        Assert.Null(PublishedCurves.PsnrGap(h, 0, 30));
        var curve = new RdCurve("x", RdCurveKind.Learned, "float", "test",
            [new RdPoint("q1", 0.2, 28, double.NaN), new RdPoint("q2", 0.05, 20, double.NaN)]);
        var gaps = PublishedCurves.PsnrGaps(curve, h);
        Assert.True(gaps[0] < 0);
        Assert.Null(gaps[1]);
    }

    [Fact]
    public void ModelsFindTheirArchitecturesPublishedCurve()
    {
        Assert.Same(PublishedCurves.Bmshj2018Hyperprior, PublishedCurves.ForModel("bmshj2018-hyperprior"));
        Assert.Same(PublishedCurves.Bmshj2018Hyperprior, PublishedCurves.ForModel("hyperprior-mini"));
        Assert.Same(PublishedCurves.Cheng2020Anchor, PublishedCurves.ForModel("cheng2020-anchor-mini"));
        Assert.Null(PublishedCurves.ForModel("JPEG"));
    }
}
