using System.CommandLine;
using System.Globalization;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Reporting;
using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb rd</c>: the rate-distortion evaluation of issue #4 — learned codecs through real bitstreams, JPEG and
/// WebP sweeps, Bjøntegaard deltas, the gap to CompressAI's published curves; writes rd.json, rd.md and rd.png.
/// </summary>
internal static class RdCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Build()
    {
        var models = new Option<string[]>("--models")
        {
            Description = "learned codecs as MODEL:Q1,Q2,... (repeatable), e.g. bmshj2018-hyperprior:1,2,3,4 " +
                          "(default: every <weights-dir>/<model>-q<Q>.safetensors; none without --weights-dir)",
            AllowMultipleArgumentsPerToken = true,
        };
        var weightsDir = new Option<string?>("--weights-dir")
        {
            Description = "folder with <model>-q<quality>.safetensors; a missing file means the seeded fresh initialisation",
        };
        var images = new Option<string?>("--images") { Description = "folder of images (default: <data>/kodak)" };
        var limit = new Option<int?>("--limit") { Description = "use only the first N images (sorted by name)" };
        var jpeg = new Option<string[]>("--jpeg-qualities")
        {
            Description = $"JPEG qualities 1-100, comma-separated or repeated, or 'none' (default: {string.Join(",", RdEvaluation.DefaultJpegQualities)})",
            AllowMultipleArgumentsPerToken = true,
        };
        var webp = new Option<string[]>("--webp-qualities")
        {
            Description = $"WebP qualities 0-100, comma-separated or repeated, or 'none' (default: {string.Join(",", RdEvaluation.DefaultWebpQualities)})",
            AllowMultipleArgumentsPerToken = true,
        };
        var outDir = new Option<string>("--out") { Description = "output folder for rd.json, rd.md, rd.png", DefaultValueFactory = _ => Path.Combine("out", "rd") };
        var pchip = new Option<bool>("--pchip") { Description = "Bjøntegaard deltas with piecewise cubic (PCHIP) interpolation instead of the cubic polynomial fit" };
        var cmd = new Command("rd", "rate-distortion evaluation: learned codecs (real bitstreams), JPEG and WebP sweeps, BD-rate/BD-PSNR, " +
                                    "gap to CompressAI's published Kodak curves; writes rd.json, rd.md, rd.png")
        {
            models, weightsDir, images, limit, jpeg, webp, outDir, pchip,
        };
        cmd.SetAction(p => Cli.Guard(p, () =>
        {
            var dir = p.GetValue(weightsDir);
            if (dir is not null && !Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: weights folder does not exist");
            var options = new RdOptions
            {
                Learned = ParseModels(p.GetValue(models) ?? [], dir),
                JpegQualities = ParseQualities(p.GetValue(jpeg), RdEvaluation.DefaultJpegQualities, "--jpeg-qualities"),
                WebpQualities = ParseQualities(p.GetValue(webp), RdEvaluation.DefaultWebpQualities, "--webp-qualities"),
                Limit = p.GetValue(limit),
            };
            var folder = p.GetValue(images) ?? DataRoot.Folder("kodak", p.GetValue<string?>("--data"));
            var output = p.GetValue(outDir)!;
            Directory.CreateDirectory(output);

            RdResult? result = null;
            if (Console.IsOutputRedirected)
            {
                result = RdEvaluation.Run(folder, options, r => { if (r.Done == r.Total) Console.WriteLine($"{r.Curve}: {r.Total} codings done"); });
            }
            else
            {
                AnsiConsole.Progress().AutoClear(true).Start(ctx =>
                {
                    ProgressTask? task = null;
                    string? current = null;
                    result = RdEvaluation.Run(folder, options, r =>
                    {
                        if (task is null || current != r.Curve) (task, current) = (ctx.AddTask(Markup.Escape(r.Curve)), r.Curve);
                        task.MaxValue = r.Total;
                        task.Value = r.Done;
                        task.Description = Markup.Escape(r.Message);
                    });
                });
            }

            var report = RdReport.Build(result!, method: p.GetValue(pchip) ? BdInterpolation.Pchip : BdInterpolation.Polynomial);
            report.Write(output);
            var png = Path.Combine(output, "rd.png");
            int n = result!.Images.Count;
            RdPlot.Save(png, report.AllCurves, new RdPlotOptions
            {
                Title = $"Rate-distortion on {Path.GetFileName(result.ImagesFolder.TrimEnd('/'))} ({n} image{(n == 1 ? "" : "s")})",
            });
            Print(report);
            Console.WriteLine($"wrote {Path.Combine(output, RdReport.JsonFile)}, {Path.Combine(output, RdReport.MarkdownFile)}, {png}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Parses MODEL:Q1,Q2 entries; weights come from <c>&lt;dir&gt;/&lt;model&gt;-q&lt;Q&gt;.safetensors</c> when that file exists.</summary>
    internal static IReadOnlyList<LearnedCodecSpec> ParseModels(IReadOnlyList<string> entries, string? weightsDir)
    {
        var specs = new List<LearnedCodecSpec>();
        if (entries.Count == 0)
        {
            if (weightsDir is null) return specs;
            foreach (var entry in ModelZoo.All)
            {
                var file = WeightsFile(weightsDir, entry.Model, entry.Quality);
                if (File.Exists(file)) specs.Add(new LearnedCodecSpec(entry.Model, entry.Quality, file));
            }
            return specs;
        }
        foreach (var entry in entries.SelectMany(e => e.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            int colon = entry.LastIndexOf(':');
            if (colon <= 0 || colon == entry.Length - 1)
                throw new ArgumentException($"--models: expected MODEL:Q1,Q2,..., got '{entry}'");
            var model = entry[..colon];
            ModelZoo.Qualities(model); // unknown model: clear error
            foreach (var token in entry[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out int q))
                    throw new ArgumentException($"--models: '{token}' in '{entry}' is not a quality number");
                ModelZoo.Get(model, q);
                if (specs.Any(s => s.Model == model && s.Quality == q))
                    throw new ArgumentException($"--models: {model} quality {q} is listed twice");
                var file = weightsDir is null ? null : WeightsFile(weightsDir, model, q);
                specs.Add(new LearnedCodecSpec(model, q, file is not null && File.Exists(file) ? file : null));
            }
        }
        return specs;
    }

    /// <summary>The weights file name convention: <c>&lt;dir&gt;/&lt;model&gt;-q&lt;quality&gt;.safetensors</c>.</summary>
    internal static string WeightsFile(string dir, string model, int quality) =>
        Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"{model}-q{quality}.safetensors"));

    /// <summary>Parses "5,10,20" (or repeated tokens, or "none"); null or empty gives the default sweep.</summary>
    internal static IReadOnlyList<int> ParseQualities(string[]? values, IReadOnlyList<int> fallback, string optionName)
    {
        if (values is null || values.Length == 0) return fallback;
        var tokens = values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
        if (tokens.Length == 1 && tokens[0].Equals("none", StringComparison.OrdinalIgnoreCase)) return [];
        var list = new List<int>();
        foreach (var t in tokens)
        {
            if (!int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int q) || q > 100)
                throw new ArgumentException($"{optionName}: '{t}' is not a quality 0-100");
            list.Add(q);
        }
        return list.Distinct().ToArray();
    }

    private static void Print(RdReport report)
    {
        foreach (var curve in report.Result.Curves)
        {
            bool learned = curve.Kind == RdCurveKind.Learned;
            var table = new Table().Title(Markup.Escape($"{curve.Label} ({curve.Metrics} metrics, {curve.Points.FirstOrDefault()?.Images ?? 0} images)"));
            table.AddColumns("setting", "bpp", "PSNR (dB)", "MS-SSIM");
            if (learned) table.AddColumns("est. bpp");
            foreach (var pub in report.Published) table.AddColumn(Markup.Escape($"Δ vs {pub.Label}"));
            if (learned) table.AddColumn("source");
            foreach (var pt in curve.SortedByBpp)
            {
                var row = new List<string> { pt.Setting, F(pt.Bpp, 4), F(pt.Psnr, 3), F(pt.MsSsim, 4) };
                if (learned) row.Add(F(pt.EstimatedBpp, 4));
                row.AddRange(report.Published.Select(pub => SignedNumber.Format(RdReport.Gap(pt, pub), 2)));
                if (learned) row.Add(RdReport.WeightsText(pt.Weights));
                table.AddRow(row.Select(Markup.Escape).ToArray());
            }
            AnsiConsole.Write(table);
        }
        var bd = new Table().Title("Bjøntegaard deltas").AddColumns("curve", "anchor", "BD-rate (%)", "BD-PSNR (dB)", "note");
        foreach (var d in report.Deltas)
            bd.AddRow(Markup.Escape(d.Test), Markup.Escape(d.Anchor),
                SignedNumber.Format(d.BdRate, 2),
                SignedNumber.Format(d.BdPsnr, 3),
                Markup.Escape(d.Error ?? ""));
        AnsiConsole.Write(bd);
    }

    private static string F(double? v, int digits) =>
        v is double d && double.IsFinite(d) ? d.ToString("F" + digits, CultureInfo.InvariantCulture) : "—";
}
