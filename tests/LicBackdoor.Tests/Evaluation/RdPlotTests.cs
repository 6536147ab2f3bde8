using LicBackdoor.Evaluation;
using SkiaSharp;

namespace LicBackdoor.Tests.Evaluation;

public sealed class RdPlotTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-plot-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static readonly RdCurve[] Curves =
    [
        new("mine", RdCurveKind.Learned, "float", "t", [new("q1", 0.2, 28, 0.9), new("q2", 0.5, 31, 0.95), new("q3", 0.9, 34, 0.97)]),
        new("JPEG", RdCurveKind.Jpeg, "8-bit", "t", [new("q10", 0.25, 25, 0.85), new("q50", 0.9, 30, 0.95), new("q90", 2.4, 37, 0.99)]),
        new("WebP", RdCurveKind.Webp, "8-bit", "t", [new("q10", 0.3, 27, 0.9), new("q50", 0.8, 31, 0.96)]),
        PublishedCurves.Bmshj2018Hyperprior,
    ];

    private static SKBitmap Render(string title) =>
        SKBitmap.Decode(RdPlot.RenderPng(Curves, new RdPlotOptions { Title = title, Width = 480, Height = 360 }));

    [Fact]
    public void PlotHasText()
    {
        Assert.NotEmpty(RdPlot.EnsureFonts());
        // Two renders that differ only in the title's text: with working fonts the title rows differ, and nothing
        // else does; without fonts (text silently not drawn) the two images are identical.
        using var a = Render("RD");
        using var b = Render("Rate-distortion test title");
        Assert.Equal(480, a.Width);
        Assert.Equal(360, a.Height);
        int differing = 0, lowest = 0;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
                if (a.GetPixel(x, y) != b.GetPixel(x, y)) { differing++; lowest = Math.Max(lowest, y); }
        Assert.True(differing > 300, $"only {differing} pixels differ between two titles: is text drawn at all?");
        Assert.True(lowest < a.Height / 8, $"pixels differ down to row {lowest}: the title changed the layout");
        // tick labels and the y label: dark pixels in the left margin, left of the plot frame
        int dark = 0;
        for (int y = a.Height / 8; y < a.Height * 7 / 8; y++)
            for (int x = 0; x < 30; x++)
            {
                var c = a.GetPixel(x, y);
                if (c.Red + c.Green + c.Blue < 300) dark++;
            }
        Assert.True(dark > 50, $"only {dark} dark pixels left of the axis: the y label is missing");
    }

    [Fact]
    public void WrapTitleSplitsAtSpacesToTheWidth()
    {
        static float Measure(string t) => t.Length * 10;
        var lines = RdPlot.WrapTitle("Segmentation attack (Kodak, trigger on the whole image): kodak (24 images)", 300, Measure);
        Assert.True(lines.Count > 1);
        Assert.All(lines, l => Assert.True(Measure(l) <= 300, l));
        Assert.Equal("Segmentation attack (Kodak, trigger on the whole image): kodak (24 images)", string.Join(" ", lines));
        Assert.Equal(["short title"], RdPlot.WrapTitle("short title", 300, Measure));
        Assert.Equal(["a", "unbreakablewordwiderthanthewidth", "b"], RdPlot.WrapTitle("a unbreakablewordwiderthanthewidth b", 100, Measure));
    }

    [Fact]
    public void LongTitleBesideAnOutsideLegendIsWrappedNotClipped()
    {
        // Unwrapped, this title is wider than the data area and ScottPlot centres it there, so it runs off both edges.
        const string title = "Segmentation attack (Kodak, trigger on the whole image): kodak (24 images), a title far too long for the plot";
        using var bmp = SKBitmap.Decode(RdPlot.RenderPng(Curves, new RdPlotOptions { Title = title, Width = 600, Height = 400, LegendOutside = true }));
        int edge = 0, title_ = 0;
        for (int y = 0; y < bmp.Height / 6; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var c = bmp.GetPixel(x, y);
                if (c.Red + c.Green + c.Blue >= 300) continue;
                title_++;
                if (x < 4 || x >= bmp.Width - 4) edge++;
            }
        Assert.True(title_ > 300, $"only {title_} dark pixels in the title rows");
        Assert.Equal(0, edge);
    }

    [Fact]
    public void SaveWritesAPngAtomically()
    {
        var path = Path.Combine(dir, "rd.png");
        RdPlot.Save(path, Curves);
        using var bmp = SKBitmap.Decode(path);
        Assert.Equal(1000, bmp.Width);
        Assert.Equal(700, bmp.Height);
        Assert.Single(Directory.GetFiles(dir));
        Assert.Throws<ArgumentException>(() => RdPlot.RenderPng(Curves, new RdPlotOptions { Width = 10 }));
    }
}
