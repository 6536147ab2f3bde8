using System.Diagnostics;
using System.Globalization;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Evaluation;

/// <summary>A learned codec operating point to evaluate.</summary>
/// <param name="Model">Architecture name, e.g. "bmshj2018-hyperprior".</param>
/// <param name="Quality">Quality index.</param>
/// <param name="Weights">Safetensors weights, or null for the seeded fresh initialisation (<see cref="ModelStore.Open"/>).</param>
public sealed record LearnedCodecSpec(string Model, int Quality, string? Weights = null);

/// <summary>What <see cref="RdEvaluation.Run"/> evaluates.</summary>
public sealed record RdOptions
{
    /// <summary>JPEG quality settings (empty: no JPEG curve).</summary>
    public IReadOnlyList<int> JpegQualities { get; init; } = RdEvaluation.DefaultJpegQualities;

    /// <summary>WebP quality settings (empty: no WebP curve).</summary>
    public IReadOnlyList<int> WebpQualities { get; init; } = RdEvaluation.DefaultWebpQualities;

    /// <summary>Learned codec points; one curve per model name, in order of first appearance.</summary>
    public IReadOnlyList<LearnedCodecSpec> Learned { get; init; } = [];

    /// <summary>Use only the first N images of the folder (sorted by name).</summary>
    public int? Limit { get; init; }
}

/// <summary>Progress of an evaluation: <paramref name="Done"/> of <paramref name="Total"/> codings of the current curve.</summary>
public sealed record RdProgress(string Curve, int Done, int Total, string Message);

/// <summary>All curves measured on one set of images.</summary>
/// <param name="ImagesFolder">The folder the images came from.</param>
/// <param name="Images">File names of the evaluated images.</param>
/// <param name="Curves">Measured curves (learned first, then JPEG, then WebP).</param>
/// <param name="Threads">libtorch threads during the run.</param>
/// <param name="Date">UTC date and time of the run.</param>
public sealed record RdResult(string ImagesFolder, IReadOnlyList<string> Images, IReadOnlyList<RdCurve> Curves, int Threads, string Date);

/// <summary>
/// Rate-distortion evaluation on a folder of images (issue #4 part 4): JPEG and WebP over a sweep of
/// quality settings, and learned codecs through real bitstreams (<see cref="CodecEvaluation"/>).
/// </summary>
/// <remarks>
/// Each point is the mean over images of the per-image bpp, PSNR and MS-SSIM (CompressAI's convention).
/// JPEG/WebP metrics compare the 8-bit source with the 8-bit decoded file; learned-codec metrics compare
/// the source with the codec's float reconstruction clamped to [0, 1] (as CompressAI's float "Inference (ans)"
/// numbers; its 8-bit numbers are at most 0.07 dB lower at the highest rates, compressai-spec §7).
/// bpp counts whole JPEG/WebP files (headers included) and the learned codecs' payload strings
/// (as CompressAI counts them; our .lic header is excluded).
/// </remarks>
public static class RdEvaluation
{
    /// <summary>Default JPEG sweep: about 0.14-2.4 bpp on Kodak (4:2:0 baseline JPEG).</summary>
    public static IReadOnlyList<int> DefaultJpegQualities { get; } = [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90];

    /// <summary>Default WebP sweep: about 0.17-2.1 bpp on Kodak.</summary>
    public static IReadOnlyList<int> DefaultWebpQualities { get; } = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90];

    /// <summary>Evaluates everything <paramref name="options"/> asks for on the images of <paramref name="folder"/>.</summary>
    public static RdResult Run(string folder, RdOptions options, Action<RdProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Limit is < 1) throw new ArgumentException($"--limit must be at least 1, got {options.Limit}");
        var files = CodecEvaluation.ImageFiles(folder);
        if (options.Limit is int n) files = files.Take(n).ToList();
        var curves = new List<RdCurve>();
        foreach (var group in options.Learned.GroupBy(s => s.Model))
            curves.Add(EvaluateLearned(group.ToList(), files, progress));
        if (options.JpegQualities.Count > 0) curves.Add(EvaluateClassic(ClassicCodec.Jpeg, files, options.JpegQualities, progress));
        if (options.WebpQualities.Count > 0) curves.Add(EvaluateClassic(ClassicCodec.Webp, files, options.WebpQualities, progress));
        return new RdResult(Path.GetFullPath(folder), files.Select(f => Path.GetFileName(f)).ToArray(), curves, get_num_threads(),
            DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// JPEG or WebP at each quality in <paramref name="qualities"/> over <paramref name="files"/>: real file sizes,
    /// PSNR and MS-SSIM of the 8-bit decoded images (MS-SSIM NaN for images with a side ≤ 160).
    /// </summary>
    public static RdCurve EvaluateClassic(ClassicCodec codec, IReadOnlyList<string> files, IReadOnlyList<int> qualities, Action<RdProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(qualities);
        if (files.Count == 0) throw new ArgumentException("no images to evaluate");
        if (qualities.Count == 0) throw new ArgumentException($"no {ClassicCodecs.Label(codec)} qualities to evaluate");
        var range = ClassicCodecs.QualityRange(codec);
        foreach (var q in qualities)
            if (q < range.Min || q > range.Max)
                throw new ArgumentException($"{ClassicCodecs.Label(codec)} quality must be {range.Min}..{range.Max}, got {q}");
        var distinct = qualities.Distinct().OrderBy(q => q).ToArray();
        var sums = distinct.Select(_ => new Accumulator()).ToArray();
        string label = ClassicCodecs.Label(codec);
        int done = 0, total = files.Count * distinct.Length;
        foreach (var file in files)
        {
            using var imageScope = NewDisposeScope();
            var x = ImageFile.Load(file);
            bool msssim = Math.Min(x.shape[2], x.shape[3]) > Imaging.Metrics.MsSsimMinSideExclusive;
            for (int k = 0; k < distinct.Length; k++)
            {
                using var scope = NewDisposeScope();
                var sw = Stopwatch.StartNew();
                var bytes = ClassicCodecs.Encode(codec, x, distinct[k]);
                double enc = sw.Elapsed.TotalSeconds;
                sw.Restart();
                var decoded = ClassicCodecs.Decode(bytes, $"{Path.GetFileName(file)} ({label} q{distinct[k]})");
                double dec = sw.Elapsed.TotalSeconds;
                double bpp = bytes.Length * 8.0 / ((double)x.shape[2] * x.shape[3]);
                double psnr = Imaging.Metrics.Psnr(x, decoded);
                double ms = msssim ? Imaging.Metrics.MsSsim(x, decoded) : double.NaN;
                sums[k].Add(bpp, psnr, ms, enc, dec);
                progress?.Invoke(new RdProgress(label, ++done, total, $"{label} q{distinct[k]} {Path.GetFileName(file)} {bpp:F3} bpp {psnr:F2} dB"));
            }
        }
        var points = distinct.Select((q, k) => sums[k].Point($"q{q}")).ToArray();
        string source = codec == ClassicCodec.Jpeg
            ? "SkiaSharp (libjpeg-turbo), baseline, 4:2:0, JFIF without ICC profile"
            : "SkiaSharp (libwebp), lossy VP8, 4:2:0, no ICC profile";
        return new RdCurve(label, codec == ClassicCodec.Jpeg ? RdCurveKind.Jpeg : RdCurveKind.Webp, "8-bit", source, SortByBpp(points));
    }

    /// <summary>
    /// One learned architecture at several qualities (all <paramref name="specs"/> must name the same model), each
    /// coded through real bitstreams with <see cref="CodecEvaluation.EvaluateImage"/>; metrics on the float
    /// reconstruction clamped to [0, 1].
    /// </summary>
    public static RdCurve EvaluateLearned(IReadOnlyList<LearnedCodecSpec> specs, IReadOnlyList<string> files, Action<RdProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(specs);
        ArgumentNullException.ThrowIfNull(files);
        if (specs.Count == 0) throw new ArgumentException("no learned codec qualities to evaluate");
        if (files.Count == 0) throw new ArgumentException("no images to evaluate");
        string model = specs[0].Model;
        if (specs.Any(s => s.Model != model)) throw new ArgumentException("EvaluateLearned takes one model at a time");
        if (specs.Select(s => s.Quality).Distinct().Count() != specs.Count)
            throw new ArgumentException($"{model}: a quality is listed twice");
        foreach (var s in specs) ModelZoo.Get(s.Model, s.Quality); // clear errors before any work
        var points = new List<RdPoint>();
        int done = 0, total = specs.Count * files.Count;
        foreach (var spec in specs.OrderBy(s => s.Quality))
        {
            var codec = ModelStore.Open(spec.Model, spec.Quality, spec.Weights);
            try
            {
                var acc = new Accumulator();
                double estimated = 0, coded = 0;
                foreach (var file in files)
                {
                    var r = CodecEvaluation.EvaluateImage(codec, file);
                    acc.Add(r.Bpp, r.Psnr, r.MsSsim, r.EncodeSeconds, r.DecodeSeconds);
                    estimated += r.EstimatedBpp;
                    coded += r.CodedEstimatedBpp;
                    progress?.Invoke(new RdProgress(model, ++done, total, $"{model} q{spec.Quality} {r.Image} {r.Bpp:F3} bpp {r.Psnr:F2} dB"));
                }
                points.Add(acc.Point($"q{spec.Quality}") with { Weights = codec.Source, EstimatedBpp = estimated / files.Count, CodedEstimatedBpp = coded / files.Count });
            }
            finally
            {
                codec.Model.Dispose();
            }
        }
        return new RdCurve(model, RdCurveKind.Learned, "float", "this project (real rANS bitstreams)", SortByBpp(points));
    }

    private static RdPoint[] SortByBpp(IEnumerable<RdPoint> points) => points.OrderBy(p => p.Bpp).ToArray();

    /// <summary>Running sums of per-image measurements; the point is their means.</summary>
    private sealed class Accumulator
    {
        private double bpp, psnr, msssim, enc, dec;
        private int n;

        public void Add(double bpp, double psnr, double msssim, double enc, double dec)
        {
            this.bpp += bpp; this.psnr += psnr; this.msssim += msssim; this.enc += enc; this.dec += dec;
            n++;
        }

        public RdPoint Point(string setting) => new(setting, bpp / n, psnr / n, msssim / n)
        {
            Images = n, EncodeSeconds = enc / n, DecodeSeconds = dec / n,
        };
    }
}
