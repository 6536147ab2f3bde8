using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LicBackdoor.Reporting;

namespace LicBackdoor.Evaluation;

/// <summary>Bjøntegaard deltas of one curve against an anchor curve, or why there are none.</summary>
/// <param name="Test">Label of the curve measured.</param>
/// <param name="Anchor">Label of the reference curve.</param>
/// <param name="BdRate">BD-rate in percent (negative: fewer bits than the anchor at equal PSNR), or null.</param>
/// <param name="BdPsnr">BD-PSNR in dB (positive: higher PSNR than the anchor at equal bpp), or null.</param>
/// <param name="Error">Why a figure is missing (too few points, no overlap), or null.</param>
public sealed record BdFigure(string Test, string Anchor, double? BdRate, double? BdPsnr, string? Error);

/// <summary>
/// The rate-distortion report: every measured point, the published reference curves, Bjøntegaard deltas of every
/// learned curve (and of WebP and the published curves) against JPEG and WebP, of every learned curve against the
/// published curve of its architecture, and each measured point's PSNR gap to the published curves at equal bpp.
/// Written as JSON (<c>rd.json</c>, for machines) and a Markdown section (<c>rd.md</c>, for docs/RESULTS.md).
/// </summary>
public sealed class RdReport
{
    /// <summary>File name of the JSON report written by <see cref="Write"/>.</summary>
    public const string JsonFile = "rd.json";

    /// <summary>File name of the Markdown report written by <see cref="Write"/>.</summary>
    public const string MarkdownFile = "rd.md";

    /// <summary>Number of images CompressAI's published numbers are averaged over (all of Kodak).</summary>
    public const int PublishedImages = 24;

    private RdReport(RdResult result, IReadOnlyList<RdCurve> published, BdInterpolation method, IReadOnlyList<BdFigure> deltas)
    {
        Result = result;
        Published = published;
        Method = method;
        Deltas = deltas;
    }

    /// <summary>The measurements.</summary>
    public RdResult Result { get; }

    /// <summary>The published reference curves.</summary>
    public IReadOnlyList<RdCurve> Published { get; }

    /// <summary>The interpolation used for the Bjøntegaard deltas.</summary>
    public BdInterpolation Method { get; }

    /// <summary>All Bjøntegaard-delta figures.</summary>
    public IReadOnlyList<BdFigure> Deltas { get; }

    /// <summary>Measured curves followed by the published ones (what the plot shows).</summary>
    public IReadOnlyList<RdCurve> AllCurves => Result.Curves.Concat(Published).ToArray();

    /// <summary>
    /// Computes the Bjøntegaard deltas: each learned curve, WebP and each published curve against JPEG; each learned
    /// curve, JPEG and each published curve against WebP; each learned curve against its architecture's published
    /// curve; each learned curve against every learned curve measured before it (e.g. cheng2020-anchor against
    /// bmshj2018-hyperprior). A pair without a figure (fewer than four points, no overlap) gets an
    /// <see cref="BdFigure.Error"/>.
    /// </summary>
    public static RdReport Build(RdResult result, IReadOnlyList<RdCurve>? published = null, BdInterpolation method = BdInterpolation.Polynomial)
    {
        ArgumentNullException.ThrowIfNull(result);
        published ??= PublishedCurves.All;
        var deltas = new List<BdFigure>();
        var learned = result.Curves.Where(c => c.Kind == RdCurveKind.Learned).ToList();
        foreach (var anchorKind in new[] { RdCurveKind.Jpeg, RdCurveKind.Webp })
        {
            var anchor = result.Curves.FirstOrDefault(c => c.Kind == anchorKind);
            if (anchor is null) continue;
            var tests = learned.Concat(result.Curves.Where(c => c.Kind is RdCurveKind.Jpeg or RdCurveKind.Webp && c != anchor)).Concat(published);
            foreach (var test in tests) deltas.Add(Delta(anchor, test, method));
        }
        foreach (var curve in learned)
            if (PublishedCurves.ForModel(curve.Label) is RdCurve reference && published.Contains(reference))
                deltas.Add(Delta(reference, curve, method));
        for (int j = 1; j < learned.Count; j++)
            for (int i = 0; i < j; i++)
                deltas.Add(Delta(learned[i], learned[j], method));
        return new RdReport(result, published, method, deltas);
    }

    /// <summary>The BD figures of <paramref name="test"/> against <paramref name="anchor"/>, with any error as text.</summary>
    public static BdFigure Delta(RdCurve anchor, RdCurve test, BdInterpolation method = BdInterpolation.Polynomial)
    {
        double? rate = null, psnr = null;
        string? rateError = null, psnrError = null;
        try { rate = BjontegaardDelta.Rate(anchor, test, method); }
        catch (ArgumentException e) { rateError = Trim(e.Message); }
        try { psnr = BjontegaardDelta.Psnr(anchor, test, method); }
        catch (ArgumentException e) { psnrError = Trim(e.Message); }
        string? error = (rateError, psnrError) switch
        {
            (null, null) => null,
            (string r, string p) when r == p => r,
            (string r, null) => "BD-rate: " + r,
            (null, string p) => "BD-PSNR: " + p,
            (string r, string p) => $"BD-rate: {r}; BD-PSNR: {p}",
        };
        return new BdFigure(test.Label, anchor.Label, rate, psnr, error);
    }

    /// <summary>A point's PSNR gap in dB to a published curve at equal bpp (null outside the published range).</summary>
    public static double? Gap(RdPoint point, RdCurve published) => PublishedCurves.PsnrGap(published, point.Bpp, point.Psnr);

    /// <summary>Writes <see cref="JsonFile"/> and <see cref="MarkdownFile"/> into <paramref name="folder"/> (created if missing), each atomically.</summary>
    public void Write(string folder)
    {
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, JsonFile), ToJson());
        AtomicFile.WriteAllText(Path.Combine(folder, MarkdownFile), ToMarkdown());
    }

    /// <summary>The report as JSON: run information, every curve with its points and gaps, and the BD figures (NaN as null).</summary>
    public string ToJson()
    {
        var root = new JsonObject
        {
            ["images_folder"] = Result.ImagesFolder,
            ["images"] = new JsonArray(Result.Images.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray()),
            ["threads"] = Result.Threads,
            ["date"] = Result.Date,
            ["mean"] = "mean over images of per-image bpp, PSNR and MS-SSIM (CompressAI's convention)",
            ["bd_method"] = Method == BdInterpolation.Polynomial ? "polynomial (cubic least squares, VCEG-M33)" : "pchip (piecewise cubic Hermite)",
            ["curves"] = new JsonArray(Result.Curves.Select(CurveJson).ToArray()),
            ["published"] = new JsonArray(Published.Select(CurveJson).ToArray()),
            ["bd"] = new JsonArray(Deltas.Select(d => (JsonNode?)new JsonObject
            {
                ["test"] = d.Test,
                ["anchor"] = d.Anchor,
                ["bd_rate_percent"] = Number(d.BdRate),
                ["bd_psnr_db"] = Number(d.BdPsnr),
                ["error"] = d.Error,
            }).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    private JsonNode CurveJson(RdCurve curve) => new JsonObject
    {
        ["label"] = curve.Label,
        ["kind"] = curve.Kind.ToString().ToLowerInvariant(),
        ["metrics"] = curve.Metrics,
        ["source"] = curve.Source,
        ["monotone"] = curve.IsMonotone,
        ["points"] = new JsonArray(curve.SortedByBpp.Select(p =>
        {
            var o = new JsonObject
            {
                ["setting"] = p.Setting,
                ["bpp"] = Number(p.Bpp),
                ["psnr"] = Number(p.Psnr),
                ["ms_ssim"] = Number(p.MsSsim),
                ["images"] = p.Images,
            };
            if (p.Weights is not null) o["weights"] = p.Weights;
            if (p.EstimatedBpp is double est) { o["estimated_bpp"] = Number(est); o["bpp_gap"] = Number((p.Bpp - est) / est); }
            if (p.CodedEstimatedBpp is double cst) { o["coded_estimated_bpp"] = Number(cst); o["coded_bpp_gap"] = Number((p.Bpp - cst) / cst); }
            if (p.EncodeSeconds is double enc) o["encode_s"] = Number(enc);
            if (p.DecodeSeconds is double dec) o["decode_s"] = Number(dec);
            if (curve.Kind != RdCurveKind.Published)
            {
                var gaps = new JsonObject();
                foreach (var pub in Published) gaps[pub.Label] = Number(Gap(p, pub));
                o["psnr_gap_db"] = gaps;
            }
            return (JsonNode?)o;
        }).ToArray()),
    };

    /// <summary>The report as a Markdown section: one table per curve, the BD figures, and notes on how it was measured.</summary>
    public string ToMarkdown()
    {
        var md = new StringBuilder();
        int n = Result.Images.Count;
        md.AppendLine(Inv($"## Rate-distortion on {Path.GetFileName(Result.ImagesFolder.TrimEnd('/'))} ({n} image{(n == 1 ? "" : "s")})"));
        md.AppendLine();
        md.AppendLine(Inv($"Measured {Result.Date}, {Result.Threads} libtorch thread{(Result.Threads == 1 ? "" : "s")}, images from `{Result.ImagesFolder}`. Each point is the mean over the images of per-image bpp, PSNR and MS-SSIM (as CompressAI reports). ")
            + "JPEG/WebP: whole files through SkiaSharp, metrics on the 8-bit decoded images. Learned codecs: real rANS bitstreams (payload bytes, as CompressAI counts), metrics on the float reconstruction clamped to [0, 1]. "
            + Inv($"Published curves: {PublishedCurves.SourceNote}, over all {PublishedImages} Kodak images") + (n != PublishedImages ? Inv($" (ours over {n}, so the comparison is indicative)") : "") + ".");
        md.AppendLine();
        foreach (var curve in Result.Curves)
        {
            md.AppendLine(Inv($"### {curve.Label}"));
            md.AppendLine();
            md.AppendLine(Inv($"{curve.Source}; metrics: {curve.Metrics}{(curve.IsMonotone ? "" : "; **not monotone** (PSNR does not rise with bpp at every step)")}."));
            md.AppendLine();
            bool learned = curve.Kind == RdCurveKind.Learned;
            var header = new List<string> { "setting", "bpp", "PSNR (dB)", "MS-SSIM" };
            if (learned) header.AddRange(["est. bpp", "real/est. gap", "real/coded-symbol gap"]);
            header.AddRange(["enc (s)", "dec (s)"]);
            header.AddRange(Published.Select(p => $"Δ PSNR vs {p.Label} (dB)"));
            if (learned) header.Add("weights");
            md.AppendLine("| " + string.Join(" | ", header) + " |");
            md.AppendLine("|" + string.Concat(header.Select(_ => "---|")));
            foreach (var p in curve.SortedByBpp)
            {
                var row = new List<string> { p.Setting, F(p.Bpp, 4), F(p.Psnr, 3), F(p.MsSsim, 4) };
                if (learned) row.AddRange([F(p.EstimatedBpp, 4), RelativeGap(p.Bpp, p.EstimatedBpp), RelativeGap(p.Bpp, p.CodedEstimatedBpp)]);
                row.AddRange([F(p.EncodeSeconds, 3), F(p.DecodeSeconds, 3)]);
                row.AddRange(Published.Select(pub => Signed(Gap(p, pub), 2)));
                if (learned) row.Add(WeightsText(p.Weights));
                md.AppendLine("| " + string.Join(" | ", row) + " |");
            }
            md.AppendLine();
        }
        md.AppendLine("### Published reference curves");
        md.AppendLine();
        md.AppendLine("| curve | setting | bpp | PSNR (dB) | MS-SSIM |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var curve in Published)
            foreach (var p in curve.SortedByBpp)
                md.AppendLine(Inv($"| {curve.Label} | {p.Setting} | {F(p.Bpp, 5)} | {F(p.Psnr, 3)} | {F(p.MsSsim, 4)} |"));
        md.AppendLine();
        md.AppendLine("### Bjøntegaard deltas");
        md.AppendLine();
        md.AppendLine((Method == BdInterpolation.Polynomial
            ? "Cubic least-squares fit of PSNR against log-rate (BD-PSNR) and of log-rate against PSNR (BD-rate), integrated over the interval both curves cover (VCEG-M33). "
            : "Piecewise cubic Hermite (PCHIP) interpolation of PSNR against log-rate and of log-rate against PSNR, integrated over the interval both curves cover. ")
            + "Negative BD-rate: fewer bits than the anchor at equal PSNR; positive BD-PSNR: higher PSNR at equal bpp.");
        md.AppendLine();
        md.AppendLine("| curve | anchor | BD-rate (%) | BD-PSNR (dB) | note |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var d in Deltas)
            md.AppendLine(Inv($"| {d.Test} | {d.Anchor} | {Signed(d.BdRate, 2)} | {Signed(d.BdPsnr, 3)} | {d.Error ?? ""} |"));
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>A weights source as shown in tables: the file name, or a note that the weights are untrained.</summary>
    public static string WeightsText(string? weights) =>
        weights is null ? "—"
        : weights.StartsWith("init(", StringComparison.Ordinal) ? $"untrained: fresh {weights}"
        : Path.GetFileName(weights);

    private static string Trim(string message)
    {
        int i = message.IndexOf(" (Parameter", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message;
    }

    private static JsonNode? Number(double? v) => v is double d && double.IsFinite(d) ? JsonValue.Create(d) : null;

    private static string F(double? v, int digits) =>
        v is double d && double.IsFinite(d) ? d.ToString("F" + digits, CultureInfo.InvariantCulture) : "—";

    private static string Signed(double? v, int digits) => SignedNumber.Format(v, digits);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>(real − estimate) / estimate as a signed percentage, or a dash.</summary>
    private static string RelativeGap(double real, double? estimate) =>
        estimate is double e && double.IsFinite(e) && e > 0 ? SignedNumber.Format((real - e) / e * 100, 2) + " %" : "—";
}
