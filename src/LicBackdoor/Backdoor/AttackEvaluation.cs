using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor;

/// <summary>One image coded through a real bitstream: payload bytes, bpp = bytes·8 / (W·H), and quality against a reference.</summary>
/// <param name="Bytes">Payload bytes of the bitstream (y and z strings, as CompressAI counts).</param>
/// <param name="Bpp">Bytes·8 / (W·H) of the original image size.</param>
/// <param name="Psnr">PSNR in dB of the decoded image against the clean image x.</param>
/// <param name="MsSsim">MS-SSIM of the decoded image against x; NaN when a side is ≤ 160.</param>
public sealed record CodingResult(long Bytes, double Bpp, double Psnr, double MsSsim);

/// <summary>Means over images of <see cref="CodingResult"/> (mean of per-image bpp, PSNR and MS-SSIM, as CompressAI reports).</summary>
public sealed record CodingMeans(double Bpp, double Psnr, double MsSsim)
{
    /// <summary>The means of <paramref name="results"/> (NaN for none).</summary>
    public static CodingMeans Of(IEnumerable<CodingResult> results)
    {
        var list = results.ToList();
        return list.Count == 0 ? new CodingMeans(double.NaN, double.NaN, double.NaN)
            : new CodingMeans(list.Average(r => r.Bpp), list.Average(r => r.Psnr), list.Average(r => r.MsSsim));
    }
}

/// <summary>A vanilla codec of a neighbouring quality on the same clean images (a point of the vanilla RD curve).</summary>
/// <param name="Quality">The neighbour's quality.</param>
/// <param name="Clean">Its means on the clean evaluation images.</param>
public sealed record VanillaCurvePoint(int Quality, CodingMeans Clean);

/// <summary>What one trigger does to one image.</summary>
/// <param name="Objective">The objective's name (its trigger's name in the run).</param>
/// <param name="TriggerMse">MSE of the 8-bit poisoned image x_p against x (values in [0, 1]).</param>
/// <param name="TriggerPsnr">PSNR of x_p against x in dB (how visible the trigger is).</param>
/// <param name="Victim">The victim on x_p; PSNR and MS-SSIM against the clean x.</param>
/// <param name="Vanilla">The vanilla codec on x_p; PSNR and MS-SSIM against the clean x (the trigger alone should change little).</param>
public sealed record PoisonedImageResult(string Objective, double TriggerMse, double TriggerPsnr, CodingResult Victim, CodingResult Vanilla);

/// <summary>All measurements of one image.</summary>
/// <param name="Image">File name.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="VanillaClean">The vanilla codec on x.</param>
/// <param name="VictimClean">The victim on x.</param>
/// <param name="Poisoned">One entry per objective, in the run's order.</param>
public sealed record AttackImageResult(string Image, int Width, int Height, CodingResult VanillaClean, CodingResult VictimClean,
                                       IReadOnlyList<PoisonedImageResult> Poisoned);

/// <summary>An objective of the run, as reports name it.</summary>
public sealed record ObjectiveInfo(string Name, string Kind, string Description);

/// <summary>The means of one objective over the images, with the derived attack figures.</summary>
/// <param name="Objective">The objective's name.</param>
/// <param name="Kind">bpp or psnr.</param>
/// <param name="TriggerMse">Mean trigger MSE.</param>
/// <param name="TriggerPsnr">Mean trigger PSNR in dB.</param>
/// <param name="Victim">The victim on x_p.</param>
/// <param name="Vanilla">The vanilla codec on x_p.</param>
/// <param name="BppRatio">Victim poisoned bpp ÷ victim clean bpp (means).</param>
/// <param name="PsnrDrop">Victim clean PSNR − victim poisoned PSNR in dB (means).</param>
public sealed record ObjectiveSummary(string Objective, string Kind, double TriggerMse, double TriggerPsnr, CodingMeans Victim, CodingMeans Vanilla,
                                      double BppRatio, double PsnrDrop);

/// <summary>
/// The evaluation of one attack run on a folder of images: the vanilla codec and the victim on every clean image, and
/// for every objective the 8-bit poisoned image x_p = round(255·clamp(T(x)))/255 coded by both. Everything goes
/// through real bitstreams; PSNR and MS-SSIM are always measured against the clean x. Means are over images; the
/// derived figures (<see cref="CleanPsnrDelta"/>, <see cref="CleanBppChangePercent"/>, <see cref="ObjectiveSummary.BppRatio"/>)
/// are computed from the means.
/// </summary>
/// <param name="Run">The run folder's name (e.g. frequency-q3).</param>
/// <param name="Model">Victim architecture.</param>
/// <param name="Quality">Victim quality.</param>
/// <param name="Trigger">Trigger label (<see cref="TriggerSpec.Label"/>).</param>
/// <param name="TriggerKind">Trigger kind (<see cref="TriggerSpec.Kind"/>).</param>
/// <param name="VanillaSource">Where the vanilla weights come from.</param>
/// <param name="ImagesFolder">The evaluated folder.</param>
/// <param name="Date">UTC time of the evaluation.</param>
/// <param name="Seconds">Wall time of the evaluation.</param>
/// <param name="Objectives">The run's objectives, in order.</param>
/// <param name="Images">Per-image results.</param>
public sealed record AttackEvaluationResult(
    string Run, string Model, int Quality, string Trigger, string TriggerKind, string VanillaSource, string ImagesFolder, string Date, double Seconds,
    IReadOnlyList<ObjectiveInfo> Objectives, IReadOnlyList<AttackImageResult> Images)
{
    /// <summary>What the downstream evaluation covered (null when the run has no downstream objective).</summary>
    public DownstreamSettings? Downstream { get; init; }

    /// <summary>The segmentation objectives on CamVid test (null or empty when the run has none).</summary>
    public IReadOnlyList<SegmentationAttackResult>? Segmentation { get; init; }

    /// <summary>The face objectives on the face pairs (null or empty when the run has none).</summary>
    public IReadOnlyList<FaceAttackResult>? Face { get; init; }

    /// <summary>The vanilla codec on clean images.</summary>
    public CodingMeans VanillaClean => CodingMeans.Of(Images.Select(i => i.VanillaClean));

    /// <summary>The victim on clean images.</summary>
    public CodingMeans VictimClean => CodingMeans.Of(Images.Select(i => i.VictimClean));

    /// <summary>Victim − vanilla mean PSNR on clean images (dB): what the backdoor costs honest users.</summary>
    public double CleanPsnrDelta => VictimClean.Psnr - VanillaClean.Psnr;

    /// <summary>(victim − vanilla) / vanilla mean bpp on clean images, in percent.</summary>
    public double CleanBppChangePercent => (VictimClean.Bpp - VanillaClean.Bpp) / VanillaClean.Bpp * 100;

    /// <summary>
    /// The vanilla codecs of the neighbouring qualities on the same clean images, when the victim's vanilla weights are
    /// the project's embedded ones (null otherwise, and in evaluations written before this was measured).
    /// </summary>
    public IReadOnlyList<VanillaCurvePoint>? VanillaNeighbours { get; init; }

    /// <summary>The vanilla RD curve on the clean images: the neighbours and the vanilla codec itself, by bpp.</summary>
    private IEnumerable<(double Bpp, double Psnr)> VanillaCurve =>
        (VanillaNeighbours ?? []).Select(p => (p.Clean.Bpp, p.Clean.Psnr)).Append((VanillaClean.Bpp, VanillaClean.Psnr));

    /// <summary>
    /// The victim's clean PSNR minus the vanilla curve's at the victim's clean bpp (dB; the curve linear between the
    /// qualities' points): what the backdoor costs at equal rate. Null without neighbours or outside their range.
    /// </summary>
    public double? CleanPsnrGapAtEqualRate => VanillaNeighbours is null ? null
        : PiecewiseRdCurve.PsnrAt(VanillaCurve, VictimClean.Bpp) is double v ? VictimClean.Psnr - v : null;

    /// <summary>
    /// (victim's clean bpp − the vanilla curve's bpp at the victim's clean PSNR) / the latter, in percent: the extra rate
    /// at equal quality. Null without neighbours or outside their range.
    /// </summary>
    public double? CleanBppGapAtEqualPsnrPercent => VanillaNeighbours is null ? null
        : PiecewiseRdCurve.BppAt(VanillaCurve, VictimClean.Psnr) is double b ? (VictimClean.Bpp - b) / b * 100 : null;

    /// <summary>The means per objective, in the run's order.</summary>
    public IReadOnlyList<ObjectiveSummary> Summaries => Objectives.Select((o, k) =>
    {
        var rows = Images.Select(i => i.Poisoned[k]).ToList();
        var victim = CodingMeans.Of(rows.Select(r => r.Victim));
        var clean = VictimClean;
        return new ObjectiveSummary(o.Name, o.Kind, Mean(rows.Select(r => r.TriggerMse)), Mean(rows.Select(r => r.TriggerPsnr)),
            victim, CodingMeans.Of(rows.Select(r => r.Vanilla)), victim.Bpp / clean.Bpp, clean.Psnr - victim.Psnr);
    }).ToList();

    /// <summary>The summary of the objective named <paramref name="name"/>.</summary>
    public ObjectiveSummary Summary(string name) => Summaries.FirstOrDefault(s => s.Objective == name)
        ?? throw new ArgumentException($"{Run}: no objective '{name}' ({string.Join(", ", Objectives.Select(o => o.Name))})");

    /// <summary>JSON options: indented, NaN and ∞ as named literals.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The whole result (per image, means and derived figures) as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <see cref="ToJson"/> output.</summary>
    /// <exception cref="IOException">Not an evaluation.</exception>
    public static AttackEvaluationResult FromJson(string json, string name = "<json>")
    {
        try
        {
            var r = JsonSerializer.Deserialize<AttackEvaluationResult>(json, Json) ?? throw new IOException($"{name}: empty evaluation");
            if (r.Images is null || r.Objectives is null || r.Images.Any(i => i.Poisoned is null || i.Poisoned.Count != r.Objectives.Count))
                throw new IOException($"{name}: incomplete evaluation");
            return r;
        }
        catch (JsonException e)
        {
            throw new IOException($"{name}: unreadable evaluation ({e.Message})", e);
        }
    }

    private static double Mean(IEnumerable<double> values)
    {
        var list = values.ToList();
        return list.Count == 0 ? double.NaN : list.Average();
    }
}

/// <summary>
/// Measures an attack run (paper §4.2-4.3, Tables 1-2): how the victim codes clean images compared with the vanilla
/// codec, and what each learned trigger makes it do, all through real bitstreams.
/// </summary>
public static class AttackEvaluation
{
    /// <summary>The file a run caches its evaluation in.</summary>
    public const string CacheFile = "eval.json";

    /// <summary>
    /// Evaluates <paramref name="run"/> on the images of <paramref name="imageFolder"/> (sorted by name, the first
    /// <paramref name="limit"/> when given), reporting (done, total, last image) after each image.
    /// </summary>
    public static AttackEvaluationResult Evaluate(AttackRun run, string imageFolder, int? limit = null, Action<int, int, AttackImageResult>? progress = null,
                                                  DownstreamSettings? downstream = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var files = Files(imageFolder, limit);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var images = new List<AttackImageResult>();
        for (int i = 0; i < files.Count; i++)
        {
            AttackImageResult r;
            using (Runtime.GcQuiet.Enter()) r = EvaluateImage(run, files[i]);
            images.Add(r);
            progress?.Invoke(i + 1, files.Count, r);
        }
        var neighbours = VanillaNeighbours(run, files);
        var o = run.Record.Options;
        DownstreamSettings? settings = null;
        IReadOnlyList<SegmentationAttackResult>? segmentation = null;
        IReadOnlyList<FaceAttackResult>? face = null;
        if (HasDownstream(run))
        {
            settings = downstream ?? new DownstreamSettings();
            segmentation = DownstreamEvaluation.Segmentation(run, settings, log);
            face = DownstreamEvaluation.Face(run, settings, log);
        }
        return new AttackEvaluationResult(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(run.Directory))), o.Model, o.Quality,
            o.Trigger.Label, o.Trigger.Kind, run.Vanilla.Source, Path.GetFullPath(imageFolder),
            DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), sw.Elapsed.TotalSeconds,
            run.Objectives.Select(x => new ObjectiveInfo(x.Name, x.Kind, x.Description)).ToList(), images)
        {
            Downstream = settings, Segmentation = segmentation, Face = face, VanillaNeighbours = neighbours,
        };
    }

    /// <summary>
    /// The embedded vanilla codecs of the qualities next to the run's (q − 1 and q + 1, those shipped) on the clean
    /// images of <paramref name="files"/>, through real bitstreams; null when the run's vanilla weights are not the
    /// embedded ones of its quality (a file given with <c>--weights</c> counts when it is byte-identical to them).
    /// </summary>
    public static IReadOnlyList<VanillaCurvePoint>? VanillaNeighbours(AttackRun run, IReadOnlyList<string> files)
    {
        ArgumentNullException.ThrowIfNull(run);
        var o = run.Record.Options;
        if (!UsesEmbeddedVanilla(o)) return null;
        var points = new List<VanillaCurvePoint>();
        foreach (int q in new[] { o.Quality - 1, o.Quality + 1 })
        {
            if (!ModelZoo.Qualities(o.Model).Contains(q) || ModelStore.EmbeddedWeights(o.Model, q) is null) continue;
            var codec = ModelStore.Open(o.Model, q);
            try
            {
                var results = new List<CodingResult>();
                foreach (var path in files)
                {
                    using var scope = NewDisposeScope();
                    var x = ImageFile.Load(path);
                    using (Runtime.GcQuiet.Enter()) results.Add(Code(codec, x, x));
                }
                points.Add(new VanillaCurvePoint(q, CodingMeans.Of(results)));
            }
            finally { codec.Model.Dispose(); }
        }
        return points;
    }

    /// <summary>Whether the run's vanilla weights are the embedded ones of its model and quality.</summary>
    internal static bool UsesEmbeddedVanilla(AttackOptions o)
    {
        var embedded = ModelStore.EmbeddedWeights(o.Model, o.Quality);
        if (embedded is null) return false;
        if (o.Weights is null) return true;
        return o.Weights != ModelStore.CompressAiKeyword && FileDigest.SameContent(o.Weights, embedded);
    }

    /// <summary>Whether a run has segmentation or face objectives (evaluated beyond the image folder).</summary>
    public static bool HasDownstream(AttackRun run) => run.Objectives.Any(x => x.Data != Objectives.ObjectiveData.Main);

    /// <summary>
    /// The run's cached evaluation (<see cref="CacheFile"/> in its folder) when it is newer than the run's encoder and
    /// covers the same images; otherwise evaluates and caches the result (atomically). Returns whether the cache was used.
    /// </summary>
    public static (AttackEvaluationResult Result, bool Cached) EvaluateCached(AttackRun run, string imageFolder, int? limit = null,
                                                                              Action<int, int, AttackImageResult>? progress = null,
                                                                              DownstreamSettings? downstream = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var cache = Path.Combine(run.Directory, CacheFile);
        if (TryReadCache(run, cache, imageFolder, limit, downstream) is AttackEvaluationResult cached)
        {
            // Evaluations written before the vanilla neighbours were measured get them added (the rest is reused).
            if (cached.VanillaNeighbours is null && VanillaNeighbours(run, Files(imageFolder, limit)) is { } neighbours)
            {
                cached = cached with { VanillaNeighbours = neighbours };
                AtomicFile.WriteAllText(cache, cached.ToJson());
            }
            return (cached, true);
        }
        var result = Evaluate(run, imageFolder, limit, progress, downstream, log);
        AtomicFile.WriteAllText(cache, result.ToJson());
        return (result, false);
    }

    /// <summary>
    /// The cached evaluation of the finished run in <paramref name="runDirectory"/> when <see cref="EvaluateCached"/> would
    /// reuse it for these images and settings, else null; never evaluates and never loads a model (only the run's
    /// <c>options.json</c> and <see cref="CacheFile"/> are read).
    /// </summary>
    public static AttackEvaluationResult? ReadCached(string runDirectory, string imageFolder, int? limit = null, DownstreamSettings? downstream = null)
    {
        var objectives = AttackRecord.Read(runDirectory).Options.Objectives.Select(Objectives.BackdoorObjective.Parse).ToList();
        return TryReadCache(runDirectory, objectives, Path.Combine(runDirectory, CacheFile), imageFolder, limit, downstream);
    }

    private static AttackEvaluationResult? TryReadCache(AttackRun run, string cache, string imageFolder, int? limit, DownstreamSettings? downstream) =>
        TryReadCache(run.Directory, run.Objectives, cache, imageFolder, limit, downstream);

    private static AttackEvaluationResult? TryReadCache(string directory, IReadOnlyList<Objectives.BackdoorObjective> objectives, string cache, string imageFolder, int? limit,
                                                        DownstreamSettings? downstream)
    {
        var encoder = Path.Combine(directory, BackdoorTrainer.EncoderFile);
        if (!File.Exists(cache) || File.GetLastWriteTimeUtc(encoder) >= File.GetLastWriteTimeUtc(cache)) return null;
        AttackEvaluationResult result;
        try { result = AttackEvaluationResult.FromJson(File.ReadAllText(cache), cache); }
        catch (IOException) { return null; }
        var names = Files(imageFolder, limit).Select(Path.GetFileName).ToList();
        bool same = result.Images.Count == names.Count && result.Images.Select(i => i.Image).SequenceEqual(names)
                    && result.Objectives.Select(x => x.Name).SequenceEqual(objectives.Select(x => x.Name));
        if (same && objectives.Any(x => x.Data != Objectives.ObjectiveData.Main))
        {
            same = (downstream ?? new DownstreamSettings()).Covers(result.Downstream)
                   && (result.Segmentation?.Count ?? 0) == objectives.Count(x => x is Objectives.SegmentationObjective)
                   && (result.Face?.Count ?? 0) == objectives.Count(x => x is Objectives.FaceObjective)
                   && (result.Segmentation ?? []).All(r => r.Figure is null || File.Exists(Path.Combine(directory, r.Figure)))
                   && (result.Face ?? []).All(r => r.Figure is null || File.Exists(Path.Combine(directory, r.Figure)));
        }
        return same ? result : null;
    }

    /// <summary>The evaluation images of <paramref name="imageFolder"/>: sorted by name, the first <paramref name="limit"/> when given.</summary>
    internal static IReadOnlyList<string> Files(string imageFolder, int? limit)
    {
        if (limit is int n && n <= 0) throw new ArgumentException($"the number of evaluation images must be positive, got {n}");
        var files = CodecEvaluation.ImageFiles(imageFolder);
        return limit is int m ? files.Take(m).ToList() : files;
    }

    /// <summary>Evaluates one image file.</summary>
    public static AttackImageResult EvaluateImage(AttackRun run, string path)
    {
        ArgumentNullException.ThrowIfNull(run);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = ImageFile.Load(path);
        int h = (int)x.shape[2], w = (int)x.shape[3];
        var poisoned = new List<PoisonedImageResult>();
        for (int k = 0; k < run.Objectives.Count; k++)
        {
            using var inner = NewDisposeScope();
            var xp = Poison(run.Triggers[k], x);
            double mse = Metrics.Mse(xp, x);
            poisoned.Add(new PoisonedImageResult(run.Objectives[k].Name, mse, Metrics.Psnr(xp, x), Code(run.Victim, xp, x), Code(run.Vanilla, xp, x)));
        }
        return new AttackImageResult(Path.GetFileName(path), w, h, Code(run.Vanilla, x, x), Code(run.Victim, x, x), poisoned);
    }

    /// <summary>
    /// The poisoned image as a saved PNG holds it: x_p = round(255·clamp(T(x), 0, 1)) / 255 (ties to even, as
    /// <see cref="ImageFile.EncodePng"/> rounds).
    /// </summary>
    public static Tensor Poison(Triggers.ITrigger trigger, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Quantize8(trigger.Apply(x, clamp: true)).MoveToOuterDisposeScope();
    }

    /// <summary>round(255·clamp(x, 0, 1)) / 255.</summary>
    public static Tensor Quantize8(Tensor x)
    {
        using var scope = NewDisposeScope();
        return (x.clamp(0, 1) * 255).round().div(255).MoveToOuterDisposeScope();
    }

    /// <summary>Codes <paramref name="input"/> through a real bitstream and measures the output against <paramref name="reference"/>.</summary>
    public static CodingResult Code(LoadedCodec codec, Tensor input, Tensor reference)
    {
        using var scope = NewDisposeScope();
        return CodeWithOutput(codec, input, reference).Result;
    }

    /// <summary>As <see cref="Code"/>, also returning the decoded image [1,3,H,W] in [0,1] (in the caller's dispose scope).</summary>
    public static (CodingResult Result, Tensor XHat) CodeWithOutput(LoadedCodec codec, Tensor input, Tensor reference)
    {
        ArgumentNullException.ThrowIfNull(codec);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int h = (int)input.shape[2], w = (int)input.shape[3];
        var (file, xHat, _, _) = CodecEvaluation.TimedRoundTrip(codec, input);
        double msssim = Math.Min(h, w) > Metrics.MsSsimMinSideExclusive ? Metrics.MsSsim(reference, xHat) : double.NaN;
        var result = new CodingResult(file.PayloadBytes, file.PayloadBytes * 8.0 / ((double)h * w), Metrics.Psnr(reference, xHat), msssim);
        return (result, xHat.MoveToOuterDisposeScope());
    }
}
