using ScottPlot;
using SkiaSharp;

namespace LicBackdoor.Evaluation;

/// <summary>Size, title and axis range of an RD plot.</summary>
public sealed record RdPlotOptions
{
    /// <summary>The title drawn above the plot.</summary>
    public string Title { get; init; } = "Rate-distortion on Kodak";

    /// <summary>Image width in pixels.</summary>
    public int Width { get; init; } = 1000;

    /// <summary>Image height in pixels.</summary>
    public int Height { get; init; } = 700;

    /// <summary>Right end of the bpp axis (the axis starts at 0); points beyond it are cut off.</summary>
    public double MaxBpp { get; init; } = 2.0;

    /// <summary>
    /// When true the bpp axis spans the data (from 0 to the largest bpp plus a margin) and <see cref="MaxBpp"/> is
    /// ignored; for plots whose points may lie far apart (a bit-rate attack's poisoned points at 10x the clean rate).
    /// </summary>
    public bool FitBpp { get; init; }

    /// <summary>Draw the legend to the right of the plot instead of inside it (nothing hides a point).</summary>
    public bool LegendOutside { get; init; }
}

/// <summary>
/// The rate-distortion plot: PSNR against bpp, one line with markers per curve — learned codecs solid with filled
/// circles, JPEG and WebP solid with squares and triangles, published reference curves dashed with open circles —
/// with axis labels, a title and a legend, rendered by ScottPlot to PNG.
/// </summary>
/// <remarks>
/// ScottPlot draws text with Skia, which finds fonts through fontconfig (<c>SkiaSharp.NativeAssets.Linux</c>,
/// <c>libfontconfig1</c>, <c>fonts-dejavu-core</c>). Without a font manager every label silently disappears, so
/// <see cref="EnsureFonts"/> checks that Skia sees at least one font family and otherwise registers a DejaVu or
/// Liberation TTF found in the usual folders (or named by <c>LICB_FONT</c>) with ScottPlot explicitly; if none
/// exists it throws rather than writing a plot without text.
/// </remarks>
public static class RdPlot
{
    /// <summary>Environment variable naming a TTF file to use when Skia finds no system fonts.</summary>
    public const string FontEnvironmentVariable = "LICB_FONT";

    private static readonly string[] FontCandidates =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    ];

    private static readonly Lock FontLock = new();
    private static string? fontDescription;

    /// <summary>
    /// Makes sure ScottPlot can draw text; returns how ("system fonts (N families)" or the registered file).
    /// Idempotent and thread-safe.
    /// </summary>
    /// <exception cref="InvalidOperationException">No font is available at all.</exception>
    public static string EnsureFonts()
    {
        lock (FontLock)
        {
            if (fontDescription is not null) return fontDescription;
            int families = SKFontManager.Default.FontFamilyCount;
            if (families > 0)
                return fontDescription = $"system fonts ({families} families, default '{Fonts.Default}')";
            var file = new[] { Environment.GetEnvironmentVariable(FontEnvironmentVariable) }.Concat(FontCandidates)
                .FirstOrDefault(f => !string.IsNullOrEmpty(f) && File.Exists(f))
                ?? throw new InvalidOperationException(
                    $"Skia finds no fonts (no fontconfig?) and none of {string.Join(", ", FontCandidates)} exists; " +
                    $"install fonts-dejavu-core or set {FontEnvironmentVariable} to a .ttf file, or plots would have no text");
            // ScottPlot asks for bold text (title, axis labels) separately: register a bold file for it too,
            // the regular one when no bold sibling exists, or bold text would vanish.
            string bold = new[] { file.Replace("-Regular.ttf", "-Bold.ttf", StringComparison.Ordinal), Path.ChangeExtension(file, null) + "-Bold.ttf" }
                .FirstOrDefault(f => f != file && File.Exists(f)) ?? file;
            const string name = "LicBackdoor Sans";
            foreach (bool italic in new[] { false, true })
            {
                Fonts.AddFontFile(name, file, bold: false, italic: italic);
                Fonts.AddFontFile(name, bold, bold: true, italic: italic);
            }
            Fonts.Default = name;
            return fontDescription = $"registered {file} (bold: {bold})";
        }
    }

    /// <summary>
    /// A typeface for drawing text with Skia directly (image grids): a system font when Skia has a font manager
    /// (DejaVu Sans preferred), otherwise the same TTF file <see cref="EnsureFonts"/> registers.
    /// </summary>
    /// <exception cref="InvalidOperationException">No font is available at all.</exception>
    public static SKTypeface CreateTypeface(bool bold = false)
    {
        var style = bold ? SKFontStyle.Bold : SKFontStyle.Normal;
        if (SKFontManager.Default.FontFamilyCount > 0)
            return SKFontManager.Default.MatchFamily("DejaVu Sans", style) ?? SKFontManager.Default.MatchFamily(null, style) ?? SKTypeface.Default;
        var file = new[] { Environment.GetEnvironmentVariable(FontEnvironmentVariable) }.Concat(FontCandidates)
            .FirstOrDefault(f => !string.IsNullOrEmpty(f) && File.Exists(f))
            ?? throw new InvalidOperationException($"Skia finds no fonts and none of {string.Join(", ", FontCandidates)} exists; set {FontEnvironmentVariable} to a .ttf file");
        return SKTypeface.FromFile(file) ?? throw new InvalidOperationException($"{file}: not a usable font file");
    }

    /// <summary>Renders the curves to PNG bytes.</summary>
    public static byte[] RenderPng(IEnumerable<RdCurve> curves, RdPlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(curves);
        options ??= new RdPlotOptions();
        if (options.Width < 100 || options.Height < 100) throw new ArgumentException($"plot size {options.Width}x{options.Height} is too small");
        if (!options.FitBpp && !(options.MaxBpp > 0)) throw new ArgumentException($"the bpp axis end must be positive, got {options.MaxBpp}");
        EnsureFonts();
        var list = curves.ToList();
        using var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int learned = 0, published = 0;
        double yMin = double.PositiveInfinity, yMax = double.NegativeInfinity, xMax = 0;
        double maxBpp = options.FitBpp ? double.PositiveInfinity : options.MaxBpp;
        foreach (var curve in list)
        {
            var pts = curve.SortedByBpp.Where(p => double.IsFinite(p.Bpp) && double.IsFinite(p.Psnr)).ToArray();
            if (pts.Length == 0) continue;
            var scatter = plot.Add.Scatter(pts.Select(p => p.Bpp).ToArray(), pts.Select(p => p.Psnr).ToArray());
            scatter.LegendText = LegendText(curve);
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
            switch (curve.Kind)
            {
                case RdCurveKind.Learned:
                    scatter.Color = palette.GetColor(learned++ % 6);               // blue, orange, green, red, purple, brown
                    scatter.MarkerShape = MarkerShape.FilledCircle;
                    break;
                case RdCurveKind.Jpeg:
                    scatter.Color = palette.GetColor(7);                           // grey
                    scatter.MarkerShape = MarkerShape.FilledSquare;
                    break;
                case RdCurveKind.Webp:
                    scatter.Color = palette.GetColor(6);                           // pink
                    scatter.MarkerShape = MarkerShape.FilledTriangleUp;
                    break;
                default:
                    scatter.Color = palette.GetColor(published++ % 2 == 0 ? 9 : 8); // cyan, olive
                    scatter.MarkerShape = MarkerShape.OpenCircle;
                    scatter.LinePattern = LinePattern.Dashed;
                    scatter.LineWidth = 1.5f;
                    break;
            }
            if (curve.Dashed)
            {
                scatter.LinePattern = LinePattern.Dashed;
                scatter.MarkerShape = MarkerShape.OpenCircle;
                scatter.MarkerSize = 13;
                scatter.MarkerLineWidth = 2;
            }
            foreach (var p in pts.Where(p => p.Bpp <= maxBpp))
            {
                xMax = Math.Max(xMax, p.Bpp);
                yMin = Math.Min(yMin, p.Psnr);
                yMax = Math.Max(yMax, p.Psnr);
            }
        }
        plot.Title(options.Title);
        plot.XLabel("rate (bits per pixel)");
        plot.YLabel("PSNR (dB)");
        plot.Axes.SetLimitsX(0, options.FitBpp ? (xMax > 0 ? xMax * 1.08 : 1.0) : options.MaxBpp);
        if (double.IsFinite(yMin))
        {
            double pad = Math.Max(0.5, 0.05 * (yMax - yMin));
            plot.Axes.SetLimitsY(Math.Floor(yMin - pad), Math.Ceiling(yMax + pad));
        }
        else
        {
            plot.Axes.SetLimitsY(20, 40);
        }
        if (list.Count > 0)
        {
            if (options.LegendOutside) plot.ShowLegend(Edge.Right);
            else plot.ShowLegend(Alignment.LowerRight);
        }
        var png = plot.GetImageBytes(options.Width, options.Height, ImageFormat.Png);
        // The title is centred over the data area; a title wider than that area (a long one beside an outside legend)
        // would lose both ends, so it is wrapped to the area's width and the plot drawn again.
        var label = plot.Axes.Title.Label;
        float area = plot.RenderManager.LastRender.DataRect.Width;
        using var paint = Paint.NewDisposablePaint();
        var lines = WrapTitle(options.Title, area, text => label.Measure(text, paint).Width);
        if (lines.Count <= 1) return png;
        plot.Title(string.Join("\n", lines));
        return plot.GetImageBytes(options.Width, options.Height, ImageFormat.Png);
    }

    /// <summary>
    /// Splits <paramref name="title"/> at spaces into lines each at most <paramref name="width"/> wide by
    /// <paramref name="measure"/> (a single word wider than that stays on its own line).
    /// </summary>
    public static IReadOnlyList<string> WrapTitle(string title, float width, Func<string, float> measure)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(measure);
        var lines = new List<string>();
        string current = "";
        foreach (var word in title.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = current.Length == 0 ? word : $"{current} {word}";
            if (current.Length > 0 && measure(candidate) > width)
            {
                lines.Add(current);
                current = word;
            }
            else
            {
                current = candidate;
            }
        }
        if (current.Length > 0) lines.Add(current);
        return lines;
    }

    /// <summary>Renders the curves and writes the PNG atomically.</summary>
    public static void Save(string path, IEnumerable<RdCurve> curves, RdPlotOptions? options = null)
    {
        var png = RenderPng(curves, options);
        AtomicFile.WriteAllBytes(path, png);
    }

    private static string LegendText(RdCurve curve) => curve.Kind switch
    {
        RdCurveKind.Published => $"{curve.Label} (published)",
        RdCurveKind.Learned => curve.Points.Count(p => p.Weights?.StartsWith("init(", StringComparison.Ordinal) == true) switch
        {
            0 => curve.Label,
            int n when n == curve.Points.Count => $"{curve.Label} (untrained)",
            _ => $"{curve.Label} (partly untrained)",
        },
        _ => $"{curve.Label} (SkiaSharp)",
    };
}
