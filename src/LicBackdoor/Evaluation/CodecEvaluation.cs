using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

using Padding = LicBackdoor.Imaging.Padding;

namespace LicBackdoor.Evaluation;

/// <summary>Measurements of one image coded through a real bitstream.</summary>
public sealed record ImageCodingResult(
    string Image, int Width, int Height, long Bytes, double Bpp, double EstimatedBpp,
    double Psnr, double MsSsim, double EncodeSeconds, double DecodeSeconds)
{
    /// <summary>
    /// Likelihood bpp of the symbols the bitstream codes (<see cref="Codec.Models.CompressionModel.CodedLikelihoods"/>):
    /// equal to <see cref="EstimatedBpp"/> for models without a context model; NaN when not measured.
    /// </summary>
    public double CodedEstimatedBpp { get; init; } = double.NaN;
}

/// <summary>Per-image results and their means, for one codec on a folder of images.</summary>
public sealed record CodecEvaluationReport(
    string Model, int Quality, string Weights, int Threads, string Date, IReadOnlyList<ImageCodingResult> Images)
{
    public double MeanBpp => Images.Average(i => i.Bpp);
    public double MeanEstimatedBpp => Images.Average(i => i.EstimatedBpp);
    public double MeanPsnr => Images.Average(i => i.Psnr);
    public double MeanMsSsim => Images.Average(i => i.MsSsim);
    public double MeanEncodeSeconds => Images.Average(i => i.EncodeSeconds);
    public double MeanDecodeSeconds => Images.Average(i => i.DecodeSeconds);

    /// <summary>Relative gap between real and estimated bpp, (real - estimated) / estimated.</summary>
    public double BppGap => (MeanBpp - MeanEstimatedBpp) / MeanEstimatedBpp;

    public double MeanCodedEstimatedBpp => Images.Average(i => i.CodedEstimatedBpp);

    /// <summary>Relative gap between real bpp and the likelihood of the coded symbols: the entropy coder's own overhead.</summary>
    public double CodedBppGap => (MeanBpp - MeanCodedEstimatedBpp) / MeanCodedEstimatedBpp;

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The report as JSON (per-image rows and means).</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        model = Model, quality = Quality, weights = Weights, threads = Threads, date = Date,
        mean = new { bpp = MeanBpp, estimated_bpp = MeanEstimatedBpp, bpp_gap = BppGap, coded_estimated_bpp = MeanCodedEstimatedBpp, coded_bpp_gap = CodedBppGap, psnr = MeanPsnr, ms_ssim = MeanMsSsim, encode_s = MeanEncodeSeconds, decode_s = MeanDecodeSeconds },
        images = Images,
    }, JsonOptions);
}

/// <summary>
/// Codes every image of a folder through real bitstreams (compress, serialise, parse, decompress) and
/// measures the real bpp (payload bytes, as CompressAI counts them), the likelihood bpp of the forward
/// pass in eval mode, PSNR and MS-SSIM of the float reconstruction, and encode/decode wall times.
/// </summary>
public static class CodecEvaluation
{
    /// <summary>Image files (PNG/JPEG) of a folder, sorted by name.</summary>
    public static IReadOnlyList<string> ImageFiles(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such folder");
        var files = Directory.GetFiles(folder)
            .Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"{folder}: contains no PNG or JPEG images", folder);
        return files;
    }

    /// <summary>Evaluates one image.</summary>
    public static ImageCodingResult EvaluateImage(LoadedCodec codec, string path)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = ImageFile.Load(path);
        int h = (int)x.shape[2], w = (int)x.shape[3];
        var (file, xHat, enc, dec) = TimedRoundTrip(codec, x, Path.GetFileName(path));
        double pixels = (double)h * w;
        double bpp = file.PayloadBytes * 8.0 / pixels;
        double est = EstimatedBpp(codec, x);
        double coded = CodedEstimatedBpp(codec, x);
        double psnr = Metrics.Psnr(x, xHat);
        double msssim = Math.Min(h, w) > 160 ? Metrics.MsSsim(x, xHat) : double.NaN;
        return new ImageCodingResult(Path.GetFileName(path), w, h, file.PayloadBytes, bpp, est, psnr, msssim, enc, dec) { CodedEstimatedBpp = coded };
    }

    /// <summary>
    /// Codes an image through the whole path a user sees, timed: compress and serialise (encode seconds), then
    /// parse and decompress (decode seconds).
    /// </summary>
    public static (LicFile File, Tensor XHat, double EncodeSeconds, double DecodeSeconds) TimedRoundTrip(LoadedCodec codec, Tensor x, string name = "<image>")
    {
        var sw = Stopwatch.StartNew();
        var file = ImageCodec.Compress(codec, x);
        var bytes = file.ToBytes();
        double enc = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var xHat = ImageCodec.Decompress(codec, LicFile.Parse(bytes, name), name);
        return (file, xHat, enc, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Likelihood bpp of the eval-mode forward pass on the padded image, per original pixel.</summary>
    public static double EstimatedBpp(LoadedCodec codec, Tensor x)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var pad = Padding.Compute((int)x.shape[2], (int)x.shape[3], codec.Model.DownsamplingFactor);
        var output = codec.Model.forward(Padding.Pad(x, pad));
        double bits = 0;
        foreach (var lik in output.Likelihoods.Values) bits += -torch.log2(lik).sum().item<float>();
        return bits / ((double)x.shape[2] * x.shape[3]);
    }

    /// <summary>Likelihood bpp of the symbols a real bitstream codes (<see cref="Codec.Models.CompressionModel.CodedLikelihoods"/>), per original pixel.</summary>
    public static double CodedEstimatedBpp(LoadedCodec codec, Tensor x)
    {
        using var scope = NewDisposeScope();
        var pad = Padding.Compute((int)x.shape[2], (int)x.shape[3], codec.Model.DownsamplingFactor);
        double bits = 0;
        foreach (var lik in codec.Model.CodedLikelihoods(Padding.Pad(x, pad)).Values) bits += -torch.log2(lik).sum().item<float>();
        return bits / ((double)x.shape[2] * x.shape[3]);
    }

    /// <summary>Evaluates every image of <paramref name="folder"/>, reporting progress per image.</summary>
    public static CodecEvaluationReport Evaluate(LoadedCodec codec, string folder, int? limit = null, Action<int, int, ImageCodingResult>? progress = null)
    {
        var files = ImageFiles(folder);
        if (limit is int n) files = files.Take(n).ToList();
        var results = new List<ImageCodingResult>();
        for (int i = 0; i < files.Count; i++)
        {
            ImageCodingResult r;
            using (Runtime.GcQuiet.Enter()) r = EvaluateImage(codec, files[i]);
            results.Add(r);
            progress?.Invoke(i + 1, files.Count, r);
        }
        return new CodecEvaluationReport(codec.Model.ModelName, codec.Quality, codec.Source, torch.get_num_threads(),
            DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture), results);
    }
}
