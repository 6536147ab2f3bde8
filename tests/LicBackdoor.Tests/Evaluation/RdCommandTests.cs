using System.Text.Json;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;
using SkiaSharp;

namespace LicBackdoor.Tests.Evaluation;

/// <summary><c>licb rd</c> end to end on two small synthetic images with a tiny learned model.</summary>
public sealed class RdCommandTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-rd-").FullName;
    private readonly string images;
    private readonly string weights;

    public RdCommandTests()
    {
        images = Directory.CreateDirectory(Path.Combine(dir, "imgs")).FullName;
        for (int i = 0; i < 3; i++)
            ImageFile.SavePng(SyntheticImages.Smooth(168, 176, seed: 10 + i), Path.Combine(images, $"img{i}.png"));
        weights = Directory.CreateDirectory(Path.Combine(dir, "weights")).FullName;
        using var model = new ScaleHyperprior(8, 12);
        model.eval();
        model.Update(force: true);
        ModelStore.Save(model, 1, Path.Combine(weights, "bmshj2018-hyperprior-q1.safetensors"));
    }

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => LicBackdoor.Tests.Cli.CliRunner.Run(args);

    [Fact]
    public void RdWritesJsonMarkdownAndPlotAndPrintsTables()
    {
        var outDir = Path.Combine(dir, "out");
        var r = Run("rd", "--images", images, "--limit", "2", "--models", "bmshj2018-hyperprior:1", "--weights-dir", weights,
                    "--jpeg-qualities", "20,80", "--webp-qualities", "20", "80", "--out", outDir);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("JPEG", r.Out);
        Assert.Contains("WebP", r.Out);
        Assert.Contains("bmshj2018-hyperprior", r.Out);
        Assert.Contains("Bjøntegaard", r.Out);
        Assert.Equal(new[] { "rd.json", "rd.md", "rd.png" }, Directory.GetFiles(outDir).Select(Path.GetFileName).Order().ToArray());

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "rd.json")));
        var root = doc.RootElement;
        Assert.Equal(new[] { "img0.png", "img1.png" }, root.GetProperty("images").EnumerateArray().Select(e => e.GetString()).ToArray());
        var curves = root.GetProperty("curves").EnumerateArray().ToDictionary(c => c.GetProperty("label").GetString()!);
        Assert.Equal(new[] { "bmshj2018-hyperprior", "JPEG", "WebP" }, curves.Keys.ToArray());

        var learned = curves["bmshj2018-hyperprior"].GetProperty("points")[0];
        Assert.EndsWith("bmshj2018-hyperprior-q1.safetensors", learned.GetProperty("weights").GetString());
        Assert.Equal("float", curves["bmshj2018-hyperprior"].GetProperty("metrics").GetString());
        Assert.True(learned.GetProperty("bpp").GetDouble() > 0);
        Assert.True(learned.GetProperty("estimated_bpp").GetDouble() > 0);
        Assert.True(double.IsFinite(learned.GetProperty("ms_ssim").GetDouble()));

        foreach (var label in new[] { "JPEG", "WebP" })
        {
            var pts = curves[label].GetProperty("points");
            Assert.Equal(2, pts.GetArrayLength());
            Assert.Equal("8-bit", curves[label].GetProperty("metrics").GetString());
            Assert.Equal(new[] { "q20", "q80" }, pts.EnumerateArray().Select(p => p.GetProperty("setting").GetString()).ToArray());
            Assert.True(pts[1].GetProperty("bpp").GetDouble() > pts[0].GetProperty("bpp").GetDouble());
            Assert.True(pts[1].GetProperty("psnr").GetDouble() > pts[0].GetProperty("psnr").GetDouble());
            Assert.Equal(2, pts[0].GetProperty("images").GetInt32());
        }
        // two points per measured curve are too few for Bjøntegaard deltas: recorded, not fatal
        var bd = root.GetProperty("bd").EnumerateArray().ToArray();
        Assert.Contains(bd, d => d.GetProperty("test").GetString() == "bmshj2018-hyperprior" && d.GetProperty("anchor").GetString() == "JPEG"
                                 && d.GetProperty("error").GetString()!.Contains("at least 4 points"));

        Assert.Contains("### bmshj2018-hyperprior", File.ReadAllText(Path.Combine(outDir, "rd.md")));
        using var png = SKBitmap.Decode(Path.Combine(outDir, "rd.png"));
        Assert.Equal(1000, png.Width);
    }

    [Fact]
    public void WithoutModelsTheWeightsFolderIsSearched()
    {
        var outDir = Path.Combine(dir, "out2");
        // `licb eval --rd` is the same verb
        var r = Run("eval", "--rd", "--images", images, "--limit", "1", "--weights-dir", weights, "--jpeg-qualities", "none", "--webp-qualities", "none", "--out", outDir);
        Assert.True(r.Code == 0, r.Err);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "rd.json")));
        var curves = doc.RootElement.GetProperty("curves");
        Assert.Equal(1, curves.GetArrayLength());
        Assert.Equal("q1", curves[0].GetProperty("points")[0].GetProperty("setting").GetString());
    }

    [Fact]
    public void BadOptionsGiveOneLineErrors()
    {
        foreach (var (args, expect) in new (string[], string)[]
                 {
                     (["rd", "--images", images, "--models", "nosuch:1"], "nosuch"),
                     (["rd", "--images", images, "--models", "bmshj2018-hyperprior"], "MODEL:Q1"),
                     (["rd", "--images", images, "--models", "bmshj2018-hyperprior:9"], "quality 9"),
                     (["rd", "--images", images, "--jpeg-qualities", "0"], "JPEG quality must be 1..100"),
                     (["rd", "--images", images, "--webp-qualities", "ten"], "'ten'"),
                     (["rd", "--images", images, "--weights-dir", Path.Combine(dir, "nope")], "nope"),
                     (["rd", "--data", Path.Combine(dir, "nodata"), "--jpeg-qualities", "50"], "nodata"),
                     (["rd", "--images", Path.Combine(dir, "noimages")], "noimages"),
                 })
        {
            var r = Run(args);
            Assert.True(r.Code == 1, $"{string.Join(' ', args)}: exit {r.Code}, {r.Err}");
            Assert.Contains(expect, r.Err);
            Assert.Single(r.Err.Trim().Split('\n'));
        }
    }
}
