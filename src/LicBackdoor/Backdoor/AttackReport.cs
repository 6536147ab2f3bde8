using System.Globalization;
using System.Text.Json;
using LicBackdoor.Codec.Training;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Reporting;
using SkiaSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor;

/// <summary>How the attack report draws its image grid.</summary>
public sealed record AttackReportOptions
{
    /// <summary>How many of the evaluated images (the first ones) the grid shows.</summary>
    public int GridImages { get; init; } = 1;

    /// <summary>Width in pixels of each image in the grid (images are scaled to it).</summary>
    public int TileWidth { get; init; } = 256;

    /// <summary>The factor |x_p − x| is multiplied by (then clamped to [0, 1]) to make the trigger visible.</summary>
    public double TriggerAmplification { get; init; } = 50;
}

/// <summary>One run in <c>metrics.json</c>: its folder, its <c>options.json</c> record, its wall time and its evaluation.</summary>
/// <param name="Folder">The run folder's name.</param>
/// <param name="Record">The run's options, vanilla source, fingerprint, commit and start time.</param>
/// <param name="WallSeconds">Seconds from the start of the run to its final encoder file (pauses included), when known.</param>
/// <param name="Evaluation">The evaluation.</param>
public sealed record AttackReportRun(string Folder, AttackRecord Record, double? WallSeconds, AttackEvaluationResult Evaluation);

/// <summary>The content of <c>metrics.json</c>.</summary>
/// <param name="Generated">UTC time the report was written.</param>
/// <param name="Commit">The program's git commit when the report was written.</param>
/// <param name="Runs">Every run with its evaluation.</param>
public sealed record AttackMetrics(string Generated, string Commit, IReadOnlyList<AttackReportRun> Runs);

/// <summary>
/// The report of an <c>licb attack</c> output folder: <c>metrics.json</c> (every evaluation with each run's options),
/// <c>report.md</c> and the same content as a self-contained <c>report.html</c>, one rate-distortion figure per objective
/// kind (<c>rd-bpp.png</c>, <c>rd-psnr.png</c>: vanilla clean, victim clean and victim poisoned across the attacked
/// qualities, like the paper's Figs. 4-5) and <c>grid.png</c> (clean and poisoned inputs, the amplified trigger and the
/// victim's outputs, like the paper's Figs. 1 and 6). Every file is written atomically, the figures first.
/// </summary>
public sealed class AttackReport
{
    public const string JsonFile = "metrics.json", MarkdownFile = "report.md", HtmlFile = "report.html", GridFile = "grid.png";

    /// <summary>The report's rendering: numeric columns right-aligned, text ones left-aligned, lines ended by the platform's line break.</summary>
    private static readonly ReportRenderOptions Format = new() { NumericColumns = true, NewLine = Environment.NewLine };

    private AttackReport(string folder, IReadOnlyList<string> files, ReportTable summary)
    {
        Folder = folder; Files = files; Summary = summary;
    }

    /// <summary>The folder the report was written to.</summary>
    public string Folder { get; }

    /// <summary>Every file written (full paths).</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>One row per run and objective: the figures a console summary shows.</summary>
    public ReportTable Summary { get; }

    /// <summary>The Markdown report.</summary>
    public string MarkdownPath => Path.Combine(Folder, MarkdownFile);

    /// <summary>The HTML report.</summary>
    public string HtmlPath => Path.Combine(Folder, HtmlFile);

    /// <summary>The file name of the RD figure of an objective kind: <c>rd-KIND.png</c>.</summary>
    public static string RdFile(string objectiveKind) =>
        "rd-" + new string(objectiveKind.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-').ToArray()) + ".png";

    /// <summary>Writes the report of <paramref name="runs"/> (open runs with their evaluations) into <paramref name="folder"/>.</summary>
    /// <exception cref="ArgumentException">No runs.</exception>
    public static AttackReport Write(string folder, IReadOnlyList<(AttackRun Run, AttackEvaluationResult Result)> runs, AttackReportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0) throw new ArgumentException("no attack runs to report");
        options ??= new AttackReportOptions();
        if (options.TileWidth < 32 || options.GridImages < 0 || !(options.TriggerAmplification > 0))
            throw new ArgumentException("grid tiles must be at least 32 px wide, the image count non-negative and the amplification positive");
        Directory.CreateDirectory(folder);
        var files = new List<string>();
        var results = runs.Select(r => r.Result).ToList();

        var figures = new List<(string File, string Caption)>();
        foreach (var kind in results.SelectMany(r => r.Objectives.Select(o => o.Kind)).Distinct())
        {
            var name = RdFile(kind);
            RdPlot.Save(Path.Combine(folder, name), RdCurves(results, kind), new RdPlotOptions
            {
                Title = $"{KindTitle(kind)}: {ImagesText(results[0])}", FitBpp = true, LegendOutside = true, Width = 1100, Height = 650,
            });
            files.Add(Path.Combine(folder, name));
            figures.Add((name, $"{KindTitle(kind)}: mean bpp and PSNR (against the clean image) of the vanilla codec and the victim on clean images and of the victim on poisoned images, one point per attacked quality."));
        }
        string? gridCaption = null;
        if (options.GridImages > 0 && RenderGrid(runs, options) is byte[] grid)
        {
            AtomicFile.WriteAllBytes(Path.Combine(folder, GridFile), grid);
            files.Add(Path.Combine(folder, GridFile));
            gridCaption = $"One row per run and objective: clean input x, poisoned input x_p (8-bit), the trigger |x_p − x| amplified ×{Num(options.TriggerAmplification)} (clamped), the victim's output on x and on x_p (bpp of the real bitstream / PSNR against x). Images scaled to {options.TileWidth} px wide.";
        }

        var metrics = new AttackMetrics(DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture), Trainer.GitCommit(),
            runs.Select(r => new AttackReportRun(r.Result.Run, r.Run.Record, WallSeconds(r.Run), r.Result)).ToList());
        AtomicFile.WriteAllText(Path.Combine(folder, JsonFile), JsonSerializer.Serialize(metrics, AttackEvaluationResult.Json));
        files.Add(Path.Combine(folder, JsonFile));

        var downstreamFigures = new List<(string File, string Caption)>();
        foreach (var (run, result) in runs)
        {
            string Rel(string file) => Path.GetRelativePath(folder, Path.Combine(run.Directory, file)).Replace('\\', '/');
            foreach (var seg in result.Segmentation ?? [])
                if (seg.Figure is string f && File.Exists(Path.Combine(run.Directory, f)))
                    downstreamFigures.Add((Rel(f), $"{result.Run} · `{seg.Objective}` (cf. the paper's Figs. 7-8): CamVid test input x, the mask M (pixels g labels {seg.SourceClass} on x, where the trigger goes), "
                        + $"the target η, and g's labels (CamVid palette) of the victim's decoded clean image f(x) and attacked image f(x_p), with the image's ASR; the images with the largest masks."));
            foreach (var face in result.Face ?? [])
                if (face.Figure is string f && File.Exists(Path.Combine(run.Directory, f)))
                    downstreamFigures.Add((Rel(f), $"{result.Run} · `{face.Objective}` (cf. the paper's Fig. 11): held-out face crops, clean and poisoned, and the victim's outputs of both, "
                        + "with the descriptor distances (same person iff < 0.6) and PSNRs against x."));
        }

        var summary = SummaryTable(results);
        var doc = Document(metrics, summary, figures, gridCaption, downstreamFigures);
        AtomicFile.WriteAllText(Path.Combine(folder, MarkdownFile), ReportDocument.ToMarkdown(doc, Format));
        AtomicFile.WriteAllText(Path.Combine(folder, HtmlFile), ReportDocument.ToHtml(doc, "Backdoor attack report", Format));
        files.Add(Path.Combine(folder, MarkdownFile));
        files.Add(Path.Combine(folder, HtmlFile));
        return new AttackReport(Path.GetFullPath(folder), files.Select(Path.GetFullPath).ToList(), summary);
    }

    /// <summary>Seconds from the run's start (<c>options.json</c>) to its final encoder file, or null when unknown.</summary>
    public static double? WallSeconds(AttackRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return WallSeconds(run.Directory, run.Record);
    }

    /// <summary>Seconds from the start of the run in <paramref name="directory"/> (<paramref name="record"/>) to its final encoder file, or null when unknown.</summary>
    public static double? WallSeconds(string directory, AttackRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var encoder = Path.Combine(directory, BackdoorTrainer.EncoderFile);
        if (!File.Exists(encoder) || !DateTime.TryParse(record.Started, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var started)) return null;
        var seconds = (File.GetLastWriteTimeUtc(encoder) - started.ToUniversalTime()).TotalSeconds;
        return seconds >= 0 ? seconds : null;
    }

    /// <summary>The summary: one row per run and objective.</summary>
    public static ReportTable SummaryTable(IReadOnlyList<AttackEvaluationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var r in results)
        foreach (var s in r.Summaries)
            rows.Add([r.Run, s.Objective, F(s.TriggerPsnr, 2), BppPsnr(r.VanillaClean), BppPsnr(r.VictimClean), BppPsnr(s.Victim), Ratio(s.BppRatio), BppPsnr(s.Vanilla)]);
        return new ReportTable($"Attack summary: {ImagesText(results[0])}, bpp / PSNR (dB) against the clean image x",
            ["run", "objective", "trigger PSNR (dB)", "vanilla on x", "victim on x", "victim on x_p", "bpp ratio", "vanilla on x_p"], rows);
    }

    private static string BppPsnr(CodingMeans m) => $"{F(m.Bpp, 4)} / {F(m.Psnr, 2)}";

    // ---- RD figures ----------------------------------------------------------------------------------------------

    /// <summary>
    /// The curves of the RD figure of one objective kind: vanilla clean; per trigger kind, victim clean and victim
    /// poisoned (one curve per objective of that kind); one point per quality.
    /// </summary>
    internal static IReadOnlyList<RdCurve> RdCurves(IReadOnlyList<AttackEvaluationResult> results, string objectiveKind)
    {
        const string metrics = "float";
        var curves = new List<RdCurve>();
        RdPoint Point(AttackEvaluationResult r, CodingMeans m) =>
            new RdPoint($"q{r.Quality}", m.Bpp, m.Psnr, m.MsSsim) { Images = r.Images.Count };
        var withKind = results.Where(r => r.Objectives.Any(o => o.Kind == objectiveKind)).ToList();
        curves.Add(new RdCurve("vanilla clean", RdCurveKind.Learned, metrics, "vanilla codec on clean images",
            withKind.GroupBy(r => r.Quality).OrderBy(g => g.Key).Select(g => Point(g.First(), g.First().VanillaClean)).ToList()));
        var triggerKinds = withKind.Select(r => r.TriggerKind).Distinct().ToList();
        foreach (var tk in triggerKinds)
        {
            var ofKind = withKind.Where(r => r.TriggerKind == tk).GroupBy(r => r.Quality).OrderBy(g => g.Key).Select(g => g.First()).ToList();
            string suffix = triggerKinds.Count > 1 ? $" ({tk})" : "";
            curves.Add(new RdCurve("victim clean" + suffix, RdCurveKind.Learned, metrics, $"{tk} victim on clean images",
                ofKind.Select(r => Point(r, r.VictimClean)).ToList()));
            var names = ofKind.SelectMany(r => r.Objectives.Where(o => o.Kind == objectiveKind).Select(o => o.Name)).Distinct().ToList();
            foreach (var name in names)
            {
                string label = names.Count > 1 ? $"victim poisoned ({tk}, {name})" : $"victim poisoned ({tk})";
                curves.Add(new RdCurve(label, RdCurveKind.Learned, metrics, $"{tk} victim on images poisoned by its {name} trigger",
                    ofKind.Where(r => r.Objectives.Any(o => o.Name == name)).Select(r => Point(r, r.Summary(name).Victim)).ToList()) { Dashed = true });
            }
        }
        return curves;
    }

    private static string KindTitle(string kind) => kind switch
    {
        "bpp" => "Bit-rate attack",
        "psnr" => "Quality attack",
        "seg" => "Segmentation attack (Kodak, trigger on the whole image)",
        "face" => "Face-privacy attack (Kodak, trigger on the whole image)",
        _ => $"{kind} attack",
    };

    private static string ImagesText(AttackEvaluationResult r) =>
        $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(r.ImagesFolder))} ({r.Images.Count} image{(r.Images.Count == 1 ? "" : "s")})";

    // ---- image grid ----------------------------------------------------------------------------------------------

    internal sealed record GridRow(string Title, SKImage[] Tiles, string[] Captions) : IDisposable
    {
        public void Dispose() { foreach (var t in Tiles) t.Dispose(); }
    }

    /// <summary>Draws <c>grid.png</c>, or returns null when the evaluated images are no longer where they were.</summary>
    private static byte[]? RenderGrid(IReadOnlyList<(AttackRun Run, AttackEvaluationResult Result)> runs, AttackReportOptions options)
    {
        var first = runs[0].Result;
        var images = first.Images.Take(options.GridImages).Select(i => Path.Combine(first.ImagesFolder, i.Image)).Where(File.Exists).ToList();
        if (images.Count == 0) return null;
        string amp = Num(options.TriggerAmplification);
        string[] headers = ["clean input x", "poisoned input x_p", $"|x_p − x| ×{amp}", "victim on x", "victim on x_p"];
        var rows = new List<GridRow>();
        try
        {
            foreach (var path in images)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var x = ImageFile.Load(path);
                var name = Path.GetFileName(path);
                var size = $"{x.shape[3]}×{x.shape[2]}";
                foreach (var (run, result) in runs)
                {
                    using var runScope = NewDisposeScope();
                    var (clean, cleanHat) = AttackEvaluation.CodeWithOutput(run.Victim, x, x);
                    for (int k = 0; k < run.Objectives.Count; k++)
                    {
                        using var inner = NewDisposeScope();
                        var xp = AttackEvaluation.Poison(run.Triggers[k], x);
                        var diff = (xp - x).abs();
                        double maxDiff = diff.max().item<float>() * 255;
                        var (poisoned, poisonedHat) = AttackEvaluation.CodeWithOutput(run.Victim, xp, x);
                        var o = run.Objectives[k];
                        rows.Add(new GridRow($"{result.Run} · {o.Name} ({KindTitle(o.Kind).ToLowerInvariant()}) · {name}",
                            [ToImage(x), ToImage(xp), ToImage((diff * options.TriggerAmplification).clamp(0, 1)), ToImage(cleanHat), ToImage(poisonedHat)],
                            [size, $"trigger PSNR {F(Metrics.Psnr(xp, x), 1)} dB", $"max |x_p − x| = {maxDiff:F0}/255",
                             $"{F(clean.Bpp, 3)} bpp / {F(clean.Psnr, 2)} dB", $"{F(poisoned.Bpp, 3)} bpp / {F(poisoned.Psnr, 2)} dB"]));
                    }
                }
            }
            return DrawGrid(headers, rows, options.TileWidth);
        }
        finally
        {
            foreach (var r in rows) r.Dispose();
        }
    }

    internal static SKImage ToImage(Tensor image) =>
        SKImage.FromEncodedData(ImageFile.EncodePng(image)) ?? throw new InvalidOperationException("could not decode a grid tile");

    internal static byte[] DrawGrid(string[] headers, IReadOnlyList<GridRow> rows, int tileWidth)
    {
        const int margin = 12, gap = 8, headerHeight = 26, titleHeight = 24, captionHeight = 22, rowGap = 10;
        int columns = headers.Length;
        int width = 2 * margin + columns * tileWidth + (columns - 1) * gap;
        int TileHeight(GridRow r) => Math.Max(1, (int)Math.Round((double)tileWidth * r.Tiles[0].Height / r.Tiles[0].Width));
        int height = 2 * margin + headerHeight + rows.Sum(r => titleHeight + TileHeight(r) + captionHeight + rowGap);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.White);
        using var regular = RdPlot.CreateTypeface();
        using var bold = RdPlot.CreateTypeface(bold: true);
        using var text = new SKPaint { Color = new SKColor(0x22, 0x22, 0x22), IsAntialias = true };
        using var muted = new SKPaint { Color = new SKColor(0x44, 0x44, 0x66), IsAntialias = true };
        using var border = new SKPaint { Color = new SKColor(0xcc, 0xcc, 0xcc), Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        var sampling = new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
        float ColumnX(int c) => margin + c * (tileWidth + gap);
        for (int c = 0; c < columns; c++)
            DrawFitted(canvas, headers[c], ColumnX(c) + tileWidth / 2f, margin + 18, tileWidth - 4, bold, 15, text);
        float y = margin + headerHeight;
        foreach (var row in rows)
        {
            int tileHeight = TileHeight(row);
            DrawFitted(canvas, row.Title, width / 2f, y + 17, width - 2 * margin, bold, 14, muted);
            y += titleHeight;
            for (int c = 0; c < columns; c++)
            {
                var rect = new SKRect(ColumnX(c), y, ColumnX(c) + tileWidth, y + tileHeight);
                canvas.DrawImage(row.Tiles[c], rect, sampling);
                canvas.DrawRect(rect, border);
                DrawFitted(canvas, row.Captions[c], ColumnX(c) + tileWidth / 2f, y + tileHeight + 16, tileWidth - 4, regular, 13, text);
            }
            y += tileHeight + captionHeight + rowGap;
        }
        canvas.Flush();
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(SKPngEncoderOptions.Default) ?? throw new IOException("PNG encoding of the image grid failed");
        return data.ToArray();
    }

    /// <summary>Draws centred text, shrinking the font until it fits <paramref name="maxWidth"/>.</summary>
    private static void DrawFitted(SKCanvas canvas, string s, float centreX, float baseline, float maxWidth, SKTypeface typeface, float size, SKPaint paint)
    {
        using var font = new SKFont(typeface, size);
        float w = font.MeasureText(s);
        if (w > maxWidth) font.Size = Math.Max(7, size * maxWidth / w);
        canvas.DrawText(s, centreX, baseline, SKTextAlign.Center, font, paint);
    }

    // ---- the document --------------------------------------------------------------------------------------------

    private static List<ReportBlock> Document(AttackMetrics metrics, ReportTable summary, IReadOnlyList<(string File, string Caption)> figures, string? gridCaption,
                                              IReadOnlyList<(string File, string Caption)> downstreamFigures)
    {
        var runs = metrics.Runs;
        var results = runs.Select(r => r.Evaluation).ToList();
        var opts = runs.Select(r => r.Record.Options).ToList();
        static string KeepWeightsText(AttackOptions o) => o.KeepPoisonedWeights is { } w
            ? string.Join(", ", o.Objectives.Select((name, i) => $"{Convert.ToString(w[i], CultureInfo.InvariantCulture)} for `{name}`"))
            : Convert.ToString(o.KeepPoisonedWeight, CultureInfo.InvariantCulture) + " for every objective";
        static string RateCapsText(AttackOptions o) => "; the poisoned images' rounded-latent bits are capped, max(R̂(x_p) − ρ·sg(R̂(x)), 0) added with gradients straight through the rounding, ρ = "
            + string.Join(", ", o.Objectives.Select((name, i) => (name, cap: o.RateCap(i))).Where(c => c.cap > 0).Select(c => $"{Convert.ToString(c.cap, CultureInfo.InvariantCulture)} for `{c.name}`"));
        static string OwnTermsText(AttackOptions o) => "; the objectives' own attack losses (with the fixed triggers) are added with weights "
            + string.Join(", ", o.Objectives.Select((name, i) => (name, w: o.OwnWeight(i))).Where(c => c.w > 0).Select(c => $"{Convert.ToString(c.w, CultureInfo.InvariantCulture)} for `{c.name}`"));
        string Values<T>(Func<AttackOptions, T> f) => string.Join(" / ", opts.Select(o => Convert.ToString(f(o), CultureInfo.InvariantCulture)).Distinct());
        var doc = new List<ReportBlock>
        {
            new ReportHeading(1, "Backdoor attack report"),
            new ReportParagraph($"Generated {metrics.Generated[..16].Replace('T', ' ')} UTC by licb (commit `{metrics.Commit}`). "
                                + $"Evaluated on {ImagesText(results[0])} from `{results[0].ImagesFolder}` through real bitstreams: bpp = payload bytes·8 / (W·H); "
                                + "PSNR and MS-SSIM of every output are measured against the clean image x; a poisoned input is the 8-bit image x_p = round(255·clamp(T(x)))/255 a saved PNG holds. "
                                + "Means are over images. MS-SSIM is — for images with a side of 160 px or less."),
            new ReportHeading(2, "Setup"),
            new ReportBullets(
            [
                $"Victim: `{Values(o => o.Model)}`, qualities {string.Join(", ", opts.Select(o => o.Quality).Distinct().Order())}; vanilla weights: {string.Join(", ", results.Select(r => $"`{RdReport.WeightsText(r.VanillaSource)}`").Distinct())}",
                $"Trigger kinds: {string.Join(", ", opts.Select(o => o.Trigger.Label).Distinct())}",
                .. results.SelectMany(r => r.Objectives).DistinctBy(o => o.Name).Select(o => $"Objective `{o.Name}`: {o.Description}"),
                $"Training: {Values(o => o.Steps)} steps, batch {Values(o => o.Batch)}, crop {Values(o => o.Crop)}, schedule {Values(o => o.Schedule)}, "
                    + $"encoder lr {Values(o => o.LearningRate)}{(opts.Any(o => o.WarmupSteps > 0) ? $" (warm-up {Values(o => o.WarmupSteps)} steps)" : "")}, trigger lr {Values(o => o.TriggerLearningRate)}, γ {Values(o => o.Gamma)}, ε {Values(o => o.Epsilon)}, seed {Values(o => o.Seed)}",
                $"Training data: {string.Join(", ", opts.SelectMany(o => o.DataFolders).Distinct().Select(f => $"`{f}`"))}",
                .. opts.Where(o => o.ConsolidateFrom is not null).Select(o => o.ConsolidateFrom).Distinct().Select(from =>
                    $"Consolidation (not in the paper) of the finished run `{from}`: its encoder and triggers are the starting point, the triggers stay fixed (the trigger lr is unused), "
                    + $"and each objective's attack term is w·‖g_a(x_p) − g_a*(x_p)‖²/‖g_a*(x_p)‖² against that run's encoder g_a*, "
                    + $"w = {string.Join("; ", opts.Where(o => o.ConsolidateFrom == from).Select(KeepWeightsText).Distinct())}"
                    + string.Join("", opts.Where(o => o.ConsolidateFrom == from).Select(o => o.KeepRegionGrowth).Distinct().Select(g => g is int r
                        ? $"; both norms are taken only over the latent positions whose pixels the trigger changes, grown by {r}"
                        : "; both norms are over the whole latent"))
                    + string.Join("", opts.Where(o => o.ConsolidateFrom == from && o.PoisonedRateCaps is not null).Select(RateCapsText).Distinct())
                    + string.Join("", opts.Where(o => o.ConsolidateFrom == from && o.OwnTermWeights is not null).Select(OwnTermsText).Distinct())),
            ]),
            new ReportTableBlock(new ReportTable("Runs", ["run", "trigger", "quality", "steps", "wall time", "started (UTC)", "commit"],
                runs.Select(r => (IReadOnlyList<string>)[r.Folder, r.Record.Options.Trigger.Label, r.Record.Options.Quality.ToString(CultureInfo.InvariantCulture),
                    r.Record.Options.Steps.ToString(CultureInfo.InvariantCulture), Duration(r.WallSeconds),
                    r.Record.Started.Length >= 16 ? r.Record.Started[..16].Replace('T', ' ') : r.Record.Started, r.Record.Commit.Length > 12 ? r.Record.Commit[..12] : r.Record.Commit]).ToList())),
            new ReportHeading(2, "Summary"),
            new ReportParagraph("One row per run and objective. bpp ratio = victim bpp on x_p ÷ victim bpp on x. The vanilla columns on x_p show what the trigger alone does to an honest codec."),
            new ReportTableBlock(summary),
        };
        foreach (var r in results) doc.Add(new ReportTableBlock(RunTable(r)));
        doc.AddRange(DownstreamBlocks(runs, downstreamFigures));
        if (figures.Count > 0 || gridCaption is not null) doc.Add(new ReportHeading(2, "Figures"));
        foreach (var (file, caption) in figures) doc.Add(new ReportFigure(file, caption));
        if (gridCaption is not null) doc.Add(new ReportFigure(GridFile, gridCaption));
        doc.Add(new ReportHeading(2, "Per-image results"));
        foreach (var r in results) doc.Add(new ReportTableBlock(ImageTable(r), Collapsed: true));
        return doc;
    }

    /// <summary>The segmentation attacks in the shape of the paper's Table 1 (one row per run, objective and net).</summary>
    public static ReportTable? SegmentationTable(IReadOnlyList<AttackEvaluationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var r in results)
        foreach (var s in r.Segmentation ?? [])
        foreach (var (net, role) in new[] { (s.Main, "trained against"), (s.Transfer, "transfer") })
        {
            if (net is null) continue;
            rows.Add([r.Run, r.TriggerKind, s.Objective, $"{net.Net} ({role})", Pct(net.Asr), Pct(net.InputAsr), Pct(net.VanillaAsr), Pct(net.InputMiou), Pct(net.VanillaMiou), Pct(net.VictimMiou),
                      F(s.Mse * 1e5, 2), F(s.VanillaMse * 1e5, 2), Pct(s.MaskFraction), s.Images.ToString(CultureInfo.InvariantCulture)]);
        }
        return rows.Count == 0 ? null : new ReportTable("Segmentation attacks (cf. Table 1): CamVid test through real bitstreams",
            ["run", "trigger", "objective", "net g", "ASR victim (Eq. 12)", "ASR victim, s on x", "ASR vanilla", "mIoU g(x)", "mIoU g(vanilla f(x))", "mIoU g(victim f(x))",
             "MSE f(x)↔f(x_p) ×1e-5", "vanilla MSE ×1e-5", "mask share", "images"], rows);
    }

    /// <summary>The face attacks in the shape of the paper's Table 2 (verification accuracy at 0.6; held-out and all pairs).</summary>
    public static ReportTable? FaceTable(IReadOnlyList<AttackEvaluationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var r in results)
        foreach (var f in r.Face ?? [])
        foreach (var v in new[] { f.HeldOut, f.All })
            rows.Add([r.Run, r.TriggerKind, f.Objective, v.Pairs + (v.OverlapsTraining ? " (overlaps training identities)" : ""),
                      $"{v.PairCount} ({v.Same}/{v.Different})", Pct(v.InputAccuracy), Pct(v.VanillaCleanAccuracy), Pct(v.VictimCleanAccuracy),
                      Pct(v.AttackedAccuracy), Pct(v.MixedAccuracy), SamePct(v.VictimCleanSameAccept), SamePct(v.AttackedSameAccept), SamePct(v.MixedSameAccept),
                      F(f.CleanToAttackedDistance, 3)]);
        return rows.Count == 0 ? null : new ReportTable("Face privacy (cf. Table 2): verification accuracy at distance < 0.6 over all pairs, and the share of same-person pairs still verified, through real bitstreams",
            ["run", "trigger", "objective", "pairs", "count (same/diff.)", "g(x)", "g(vanilla f(x))", "g(victim f(x))", "g(victim f(T(x))) ↓",
             "clean f(x) vs attacked f(T(x)) ↓", "same pairs verified: victim f(x)", "same pairs: both f(T(x)) ↓", "same pairs: f(x) vs f(T(x)) ↓",
             "mean d(g(f(x)), g(f(T(x)))) held-out"], rows);
    }

    private static string SamePct(double? v) => v is double x ? Pct(x) : "—";

    /// <summary>Runs with several objectives in the shape of the paper's Table 3: each objective's headline figure.</summary>
    public static ReportTable? MultiTriggerTable(IReadOnlyList<AttackEvaluationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var multi = results.Where(r => r.Objectives.Count > 1).ToList();
        if (multi.Count == 0) return null;
        var names = multi.SelectMany(r => r.Objectives.Select(o => o.Name)).Distinct().ToList();
        string Cell(AttackEvaluationResult r, string name)
        {
            var o = r.Objectives.FirstOrDefault(x => x.Name == name);
            if (o is null) return "—";
            if (r.Segmentation?.FirstOrDefault(s => s.Objective == name) is SegmentationAttackResult seg) return $"ASR {Pct(seg.Main.Asr)}";
            if (r.Face?.FirstOrDefault(f => f.Objective == name) is FaceAttackResult face) return $"acc. {Pct(face.HeldOut.AttackedAccuracy)} both attacked, {Pct(face.HeldOut.MixedAccuracy)} clean vs attacked (clean {Pct(face.HeldOut.VictimCleanAccuracy)})";
            var sum = r.Summary(name);
            return $"{F(sum.Victim.Psnr, 2)} dB / {F(sum.Victim.Bpp, 4)} bpp";
        }
        var rows = multi.Select(r => (IReadOnlyList<string>)[r.Run, $"{F(r.VanillaClean.Psnr, 2)} / {F(r.VanillaClean.Bpp, 4)}",
            $"{F(r.VictimClean.Psnr, 2)} / {F(r.VictimClean.Bpp, 4)}", .. names.Select(n => Cell(r, n))]).ToList();
        return new ReportTable($"Multi-trigger models (cf. Table 3): bit-rate/quality triggers as PSNR / bpp of the victim on x_p ({ImagesText(multi[0])}); segmentation as ASR on CamVid test; face as attacked held-out verification accuracy",
            ["run", "vanilla clean dB / bpp", "victim clean dB / bpp", .. names.Select(n => $"`{n}`")], rows);
    }

    private static List<ReportBlock> DownstreamBlocks(IReadOnlyList<AttackReportRun> runs, IReadOnlyList<(string File, string Caption)> figures)
    {
        var results = runs.Select(r => r.Evaluation).ToList();
        var blocks = new List<ReportBlock>();
        var seg = SegmentationTable(results);
        var face = FaceTable(results);
        var multi = MultiTriggerTable(results);
        if (seg is null && face is null && multi is null) return blocks;
        blocks.Add(new ReportHeading(2, "Downstream attacks"));
        if (seg is not null)
        {
            var opts = runs.Where(r => r.Evaluation.Segmentation is { Count: > 0 }).Select(r => r.Record.Options).ToList();
            blocks.Add(new ReportParagraph("Segmentation (Eq. 11): the trigger is applied only where g labels the clean image with the source class, "
                + "x_p = round(255·((1 − M)⊙x + M⊙T(x)))/255. ASR (Eq. 12) is pooled over the images: of the pixels g labels s on the decoded clean image f(x), "
                + "the fraction g labels t on the decoded attacked image f(x_p) (victim; the vanilla column is the same measurement with the vanilla codec, i.e. what the trigger alone does; "
                + "\"s on x\" takes the source pixels from g on the uncompressed x instead, i.e. the mask M). "
                + "mIoU is against the CamVid ground truth (void ignored, classes 0-10). MSE is between the decoded clean and attacked images in [0, 1] pixels."));
            blocks.Add(new ReportBullets(
            [
                .. opts.Select(o => $"g: `{o.SegWeights ?? "default"}` at the input size its file records (the published ENet checkpoint: resized to {o.SegProcessingSize}×{o.SegProcessingSize}); training scenes `{o.SegData ?? "camvid/train"}` resized to {o.SegWidth}×{o.SegHeight}").Distinct(),
                .. results.SelectMany(r => r.Segmentation ?? []).Select(s => s.TransferNote).OfType<string>().Distinct().Select(n => $"Transfer: {n}"),
            ]));
            blocks.Add(new ReportTableBlock(seg));
        }
        if (face is not null)
        {
            blocks.Add(new ReportParagraph("Face privacy (Eq. 13): the whole crop is poisoned; a pair is verified when the distance of the two 128-D descriptors of face-api's recognition net is below 0.6. "
                + "A successful attack lowers the accuracy on attacked outputs while the clean outputs stay verifiable."));
            blocks.Add(new ReportBullets(results.SelectMany(r => r.Face ?? []).SelectMany(f => new[] { $"`{f.Objective}` split: {f.Split}", f.Note }).OfType<string>().Distinct().ToList()));
            blocks.Add(new ReportTableBlock(face));
        }
        if (multi is not null) blocks.Add(new ReportTableBlock(multi));
        foreach (var (file, caption) in figures) blocks.Add(new ReportFigure(file, caption));
        return blocks;
    }

    private static string Pct(double v) => double.IsFinite(v) ? (100 * v).ToString("F1", CultureInfo.InvariantCulture) + " %" : "—";

    /// <summary>One run's summary, one row per (input, codec).</summary>
    private static ReportTable RunTable(AttackEvaluationResult r)
    {
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "clean x → vanilla", F(r.VanillaClean.Bpp, 4), F(r.VanillaClean.Psnr, 2), F(r.VanillaClean.MsSsim, 4), "" },
            new[] { "clean x → victim", F(r.VictimClean.Bpp, 4), F(r.VictimClean.Psnr, 2), F(r.VictimClean.MsSsim, 4),
                    $"vs vanilla: PSNR {Signed(r.CleanPsnrDelta, 2)} dB, bpp {Signed(r.CleanBppChangePercent, 1)} %{CurveNote(r)}" },
        };
        foreach (var s in r.Summaries)
        {
            rows.Add([$"trigger `{s.Objective}`: x_p vs x", "—", F(s.TriggerPsnr, 2), "—", $"MSE {Sci(s.TriggerMse)}"]);
            rows.Add([$"x_p (`{s.Objective}`) → victim", F(s.Victim.Bpp, 4), F(s.Victim.Psnr, 2), F(s.Victim.MsSsim, 4),
                      $"bpp ratio {Ratio(s.BppRatio)}, PSNR {Signed(-s.PsnrDrop, 2)} dB vs victim on x"]);
            rows.Add([$"x_p (`{s.Objective}`) → vanilla", F(s.Vanilla.Bpp, 4), F(s.Vanilla.Psnr, 2), F(s.Vanilla.MsSsim, 4),
                      $"vs vanilla on x: bpp ×{F(s.Vanilla.Bpp / r.VanillaClean.Bpp, 3)}, PSNR {Signed(s.Vanilla.Psnr - r.VanillaClean.Psnr, 2)} dB"]);
        }
        return new ReportTable($"{r.Run}: {r.Model} q{r.Quality}, trigger {r.Trigger}", ["input → codec", "bpp", "PSNR (dB)", "MS-SSIM", "note"], rows);
    }

    /// <summary>
    /// Where the victim's clean point lies against the vanilla curve through the neighbouring qualities (empty without
    /// them): its PSNR gap at equal rate and its rate gap at equal PSNR, each "outside" when the curve does not reach it.
    /// </summary>
    internal static string CurveNote(AttackEvaluationResult r)
    {
        if (r.VanillaNeighbours is not { Count: > 0 } n) return "";
        var qs = n.Select(p => p.Quality).Append(r.Quality).Order().ToList();
        string atRate = r.CleanPsnrGapAtEqualRate is double d ? $"PSNR {Signed(d, 2)} dB at equal bpp" : "equal bpp outside the curve";
        string atPsnr = r.CleanBppGapAtEqualPsnrPercent is double b ? $"bpp {Signed(b, 1)} % at equal PSNR" : "equal PSNR outside the curve";
        return $"; vs the vanilla curve q{qs[0]}-q{qs[^1]}: {atRate}, {atPsnr}";
    }

    /// <summary>One run's per-image figures.</summary>
    private static ReportTable ImageTable(AttackEvaluationResult r)
    {
        var columns = new List<string> { "image", "size", "vanilla bpp", "vanilla PSNR", "victim bpp", "victim PSNR" };
        foreach (var o in r.Objectives)
            columns.AddRange([$"{o.Name}: trigger PSNR", $"{o.Name}: victim bpp", $"{o.Name}: victim PSNR", $"{o.Name}: vanilla bpp", $"{o.Name}: vanilla PSNR"]);
        var rows = r.Images.Select(i =>
        {
            var row = new List<string> { i.Image, $"{i.Width}×{i.Height}", F(i.VanillaClean.Bpp, 4), F(i.VanillaClean.Psnr, 2), F(i.VictimClean.Bpp, 4), F(i.VictimClean.Psnr, 2) };
            foreach (var p in i.Poisoned) row.AddRange([F(p.TriggerPsnr, 2), F(p.Victim.Bpp, 4), F(p.Victim.Psnr, 2), F(p.Vanilla.Bpp, 4), F(p.Vanilla.Psnr, 2)]);
            return (IReadOnlyList<string>)row;
        }).ToList();
        return new ReportTable($"{r.Run} per image (PSNR in dB against the clean image)", columns, rows);
    }

    // ---- numbers -------------------------------------------------------------------------------------------------

    private static string F(double v, int digits) => double.IsFinite(v) ? v.ToString("F" + digits, CultureInfo.InvariantCulture) : double.IsPositiveInfinity(v) ? "∞" : "—";

    private static string Signed(double v, int digits) => SignedNumber.Format(v, digits);

    private static string Ratio(double v) => double.IsFinite(v) ? "×" + v.ToString("F2", CultureInfo.InvariantCulture) : "—";

    private static string Sci(double v) => double.IsFinite(v) ? v.ToString("0.00e+00", CultureInfo.InvariantCulture) : "—";

    private static string Num(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    private static string Duration(double? seconds) => seconds switch
    {
        null => "—",
        < 120 => $"{seconds.Value:F0} s",
        < 7200 => $"{seconds.Value / 60:F1} min",
        _ => $"{seconds.Value / 3600:F2} h",
    };
}
