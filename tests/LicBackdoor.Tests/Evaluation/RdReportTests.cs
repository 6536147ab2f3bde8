using System.Text.Json;
using LicBackdoor.Evaluation;

namespace LicBackdoor.Tests.Evaluation;

public sealed class RdReportTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-rdreport-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static RdCurve Curve(string label, RdCurveKind kind, double rateFactor, double dB, int count = 6, string? weights = null) =>
        new(label, kind, kind == RdCurveKind.Learned ? "float" : "8-bit", "test",
            PublishedCurves.Bmshj2018HyperpriorPoints.Take(count)
                .Select((p, i) => new RdPoint($"q{i + 1}", p.Bpp * rateFactor, p.Psnr + dB, i == 0 ? double.NaN : p.MsSsim)
                {
                    Images = 24, Weights = weights, EstimatedBpp = weights is null ? null : p.Bpp * rateFactor * 0.99,
                })
                .ToArray());

    private static RdResult Result() => new("/data/kodak", ["kodim01.png", "kodim02.png"],
    [
        Curve("bmshj2018-hyperprior", RdCurveKind.Learned, 1.0, -1.0, weights: "/w/bmshj2018-hyperprior-q1.safetensors"),
        Curve("cheng2020-anchor", RdCurveKind.Learned, 1.0, 0, count: 2, weights: "init(seed=0)"),
        Curve("JPEG", RdCurveKind.Jpeg, 2.0, -2.0),
        Curve("WebP", RdCurveKind.Webp, 1.5, -2.0),
    ], 2, "2026-11-01 12:00 UTC");

    [Fact]
    public void DeltasCoverEveryCurveAgainstJpegWebpAndItsPublishedCurve()
    {
        var report = RdReport.Build(Result());
        BdFigure Find(string test, string anchor) => report.Deltas.Single(d => d.Test == test && d.Anchor == anchor);
        var vsPublished = Find("bmshj2018-hyperprior", "CompressAI bmshj2018-hyperprior");
        Assert.InRange(vsPublished.BdPsnr!.Value, -1.01, -0.99); // not exactly -1: cubic fits to 6 and to 8 points differ slightly
        Assert.Null(vsPublished.Error);
        Assert.Equal((2 / 1.5 - 1) * 100, Find("JPEG", "WebP").BdRate!.Value, 6);
        Assert.Equal((1.5 / 2 - 1) * 100, Find("WebP", "JPEG").BdRate!.Value, 6);
        Assert.NotNull(Find("CompressAI cheng2020-anchor", "JPEG").BdRate);
        // the two-point curve has no figures, and says why
        var twoPoints = Find("cheng2020-anchor", "JPEG");
        Assert.Null(twoPoints.BdRate);
        Assert.Contains("at least 4 points", twoPoints.Error);
        Assert.DoesNotContain("BD-PSNR", twoPoints.Error); // the same reason for both figures is given once
        Assert.Contains("at least 4 points", Find("cheng2020-anchor", "bmshj2018-hyperprior").Error);
        Assert.Equal(13, report.Deltas.Count); // (2 learned + the other classic codec + 2 published) x 2 anchors + 2 learned vs published + 1 learned pair
    }

    [Fact]
    public void EachLearnedCurveIsMeasuredAgainstTheLearnedCurvesBeforeIt()
    {
        var result = new RdResult("/data/kodak", ["kodim01.png"],
        [
            Curve("bmshj2018-hyperprior", RdCurveKind.Learned, 1.0, -1.0, weights: "/w/a.safetensors"),
            Curve("cheng2020-anchor", RdCurveKind.Learned, 1.0, -0.5, weights: "/w/b.safetensors"),
        ], 1, "2026-11-01 12:00 UTC");
        var pair = RdReport.Build(result).Deltas.Single(d => d.Test == "cheng2020-anchor" && d.Anchor == "bmshj2018-hyperprior");
        Assert.Null(pair.Error);
        Assert.Equal(0.5, pair.BdPsnr!.Value, 6); // the same points 0.5 dB higher
        Assert.True(pair.BdRate < 0);
    }

    [Fact]
    public void WritesJsonAndMarkdown()
    {
        var report = RdReport.Build(Result());
        report.Write(dir);
        Assert.Equal(new[] { "rd.json", "rd.md" }, Directory.GetFiles(dir).Select(Path.GetFileName).Order().ToArray());

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "rd.json")));
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("images").GetArrayLength());
        var curves = root.GetProperty("curves");
        Assert.Equal(4, curves.GetArrayLength());
        var first = curves[0].GetProperty("points")[0];
        Assert.Equal(JsonValueKind.Null, first.GetProperty("ms_ssim").ValueKind); // NaN is written as null
        Assert.Equal(0.01 / 0.99, first.GetProperty("bpp_gap").GetDouble(), 9); // (real - estimated) / estimated
        Assert.Equal(-1.0, first.GetProperty("psnr_gap_db").GetProperty("CompressAI bmshj2018-hyperprior").GetDouble(), 9);
        Assert.Equal(2, root.GetProperty("published").GetArrayLength());
        Assert.Equal(report.Deltas.Count, root.GetProperty("bd").GetArrayLength());

        var md = File.ReadAllText(Path.Combine(dir, "rd.md"));
        Assert.StartsWith("## Rate-distortion on kodak (2 images)", md);
        Assert.Contains("### JPEG", md);
        Assert.Contains("### Bjøntegaard deltas", md);
        Assert.Contains("| bmshj2018-hyperprior | CompressAI bmshj2018-hyperprior |", md);
        Assert.Contains("untrained: fresh init(seed=0)", md);
        Assert.Contains("bmshj2018-hyperprior-q1.safetensors", md);
        Assert.Contains("| q4 | 0.4784 | 31.838 |", md);
        Assert.Contains("-1.00", md);
        Assert.Contains("indicative", md); // 2 images vs the published 24
    }
}
