using System.Globalization;
using System.Text;
using System.Text.Json;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Imaging;
using LicBackdoor.Reporting;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Defenses;

/// <summary>The victim on the defended poisoned image D(x_p) of one objective; PSNR against the clean x.</summary>
public sealed record DefendedPoisonResult(string Objective, CodingResult Victim);

/// <summary>One defence on one image.</summary>
/// <param name="Defense">The defence's name.</param>
/// <param name="VictimClean">The victim on D(x) (the honest user's cost); PSNR against the clean x.</param>
/// <param name="Poisoned">The victim on D(x_p), one per evaluated objective.</param>
public sealed record DefendedImageResult(string Defense, CodingResult VictimClean, IReadOnlyList<DefendedPoisonResult> Poisoned);

/// <summary>All defences on one image.</summary>
/// <param name="Image">File name.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="VictimClean">The victim on the undefended clean x (the reference of the clean cost).</param>
/// <param name="Defenses">One entry per defence, in the evaluation's order.</param>
public sealed record DefenseImageResult(string Image, int Width, int Height, CodingResult VictimClean, IReadOnlyList<DefendedImageResult> Defenses)
{
    /// <summary>MSE between each evaluated objective's 8-bit poisoned input (amplified when asked) and x, before any defence; null in older files.</summary>
    public IReadOnlyList<double>? TriggerMse { get; init; }
}

/// <summary>The means of one (defence, objective) pair over the images, with the derived figures.</summary>
/// <param name="Defense">The defence.</param>
/// <param name="Objective">The objective.</param>
/// <param name="Kind">bpp or psnr.</param>
/// <param name="Poisoned">The victim on D(x_p): the attack effect (Table 5's "attack PSNR ↓"; Table 6's PSNR / bpp).</param>
/// <param name="Clean">The victim on D(x): Table 5's "clean PSNR ↑".</param>
/// <param name="BppRatio">Poisoned bpp ÷ defended clean bpp (means): the bpp attack's effect under the defence.</param>
/// <param name="PsnrDrop">Defended clean PSNR − poisoned PSNR in dB (means).</param>
/// <param name="CleanPsnrCost">Undefended clean PSNR − defended clean PSNR in dB (means): what the defence costs honest users.</param>
/// <param name="CleanBppChangePercent">(defended − undefended) / undefended clean bpp, in percent (means).</param>
public sealed record DefenseSummary(string Defense, string Objective, string Kind, CodingMeans Poisoned, CodingMeans Clean,
                                    double BppRatio, double PsnrDrop, double CleanPsnrCost, double CleanBppChangePercent);

/// <summary>
/// Input defences against one attack run (paper Tables 5-6): for every image x, every defence D and every objective
/// whose data is the main image set (bpp, psnr), the victim codes D(x) and D(x_p) through real bitstreams, with
/// x_p the 8-bit poisoned image (amplified by <see cref="Amplification"/> when it is not 1, Table 6). PSNR is always
/// against the clean x. Means are over images; derived figures come from the means.
/// </summary>
/// <param name="Run">The run folder's name.</param>
/// <param name="Model">Victim architecture.</param>
/// <param name="Quality">Victim quality.</param>
/// <param name="Trigger">Trigger label.</param>
/// <param name="Amplification">The trigger amplification k (1: the learned trigger; 3: Table 6).</param>
/// <param name="Date">UTC time of the evaluation.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Defenses">The defences, in order.</param>
/// <param name="Objectives">The evaluated objectives, in the run's order.</param>
/// <param name="Images">Per-image results.</param>
public sealed record DefenseEvaluationResult(string Run, string Model, int Quality, string Trigger, double Amplification, string Date, double Seconds,
                                             IReadOnlyList<string> Defenses, IReadOnlyList<ObjectiveInfo> Objectives, IReadOnlyList<DefenseImageResult> Images)
{
    /// <summary>The victim on undefended clean images.</summary>
    public CodingMeans VictimClean => CodingMeans.Of(Images.Select(i => i.VictimClean));

    /// <summary>One summary per (defence, objective), defences outer.</summary>
    public IReadOnlyList<DefenseSummary> Summaries => Defenses.SelectMany((d, j) => Objectives.Select((o, k) =>
    {
        var clean = CodingMeans.Of(Images.Select(i => i.Defenses[j].VictimClean));
        var poisoned = CodingMeans.Of(Images.Select(i => i.Defenses[j].Poisoned[k].Victim));
        var reference = VictimClean;
        return new DefenseSummary(d, o.Name, o.Kind, poisoned, clean, poisoned.Bpp / clean.Bpp, clean.Psnr - poisoned.Psnr,
                                  reference.Psnr - clean.Psnr, (clean.Bpp - reference.Bpp) / reference.Bpp * 100);
    })).ToList();

    /// <summary>The summary of one defence and objective.</summary>
    public DefenseSummary Summary(string defense, string objective) =>
        Summaries.FirstOrDefault(s => s.Defense == defense && s.Objective == objective)
        ?? throw new ArgumentException($"{Run}: no result for defence '{defense}' and objective '{objective}'");

    /// <summary>
    /// Table 5's shape: one column per defence; per objective a row of the attack's effect (PSNR of the victim on
    /// D(x_p) for psnr objectives; bpp and bpp ratio for bpp objectives), then the clean PSNR and bpp on D(x).
    /// </summary>
    public ReportTable ToTable()
    {
        static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var o in Objectives)
        {
            var s = Defenses.Select(d => Summary(d, o.Name)).ToList();
            if (o.Kind == "bpp")
            {
                rows.Add([$"attack bpp ↑, {o.Name}", .. s.Select(x => F(x.Poisoned.Bpp, "F4"))]);
                rows.Add([$"attack bpp ratio ↑, {o.Name}", .. s.Select(x => F(x.BppRatio, "F2"))]);
                rows.Add([$"attack PSNR (dB), {o.Name}", .. s.Select(x => F(x.Poisoned.Psnr, "F2"))]);
            }
            else
            {
                rows.Add([$"attack PSNR ↓ (dB), {o.Name}", .. s.Select(x => F(x.Poisoned.Psnr, "F2"))]);
                rows.Add([$"attack bpp, {o.Name}", .. s.Select(x => F(x.Poisoned.Bpp, "F4"))]);
            }
        }
        rows.Add(["clean PSNR ↑ (dB)", .. Defenses.Select((_, j) => F(CodingMeans.Of(Images.Select(i => i.Defenses[j].VictimClean)).Psnr, "F2"))]);
        rows.Add(["clean bpp", .. Defenses.Select((_, j) => F(CodingMeans.Of(Images.Select(i => i.Defenses[j].VictimClean)).Bpp, "F4"))]);
        string amp = Amplification == 1 ? "" : string.Create(CultureInfo.InvariantCulture, $", trigger ×{Amplification:G}");
        return new ReportTable($"Defences: {Run} ({Model} q{Quality}, {Trigger}{amp}; {Images.Count} images)", ["", .. Defenses], rows);
    }

    /// <summary><see cref="ToTable"/> as a Markdown section.</summary>
    public string ToMarkdown()
    {
        var t = ToTable();
        var sb = new StringBuilder();
        sb.Append("## ").AppendLine(t.Title).AppendLine();
        sb.AppendLine("| " + string.Join(" | ", t.Columns) + " |");
        sb.AppendLine("|" + string.Concat(t.Columns.Select((_, i) => i == 0 ? "---|" : "---:|")));
        foreach (var r in t.Rows) sb.AppendLine("| " + string.Join(" | ", r) + " |");
        sb.AppendLine().AppendLine("Victim on the defended input D(·), real bitstreams; PSNR against the clean image. " +
                                   "Attack rows: D(x_p); clean rows: D(x). Paper Table 5 (PSNR attack, hyperprior q3).");
        if (Images.Count > 0 && Images.All(i => i.TriggerMse is { } m && m.Count == Objectives.Count))
            sb.AppendLine().AppendLine("Trigger MSE of x_p against x before any defence (mean over the images): " +
                string.Join(", ", Objectives.Select((o, k) => $"{o.Name} {Images.Average(i => i.TriggerMse![k]).ToString("0.00e+00", System.Globalization.CultureInfo.InvariantCulture)}")) + ".");
        return sb.ToString();
    }

    /// <summary>The whole result as JSON (the options of <see cref="AttackEvaluationResult.Json"/>).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, AttackEvaluationResult.Json);

    /// <summary>Reads <see cref="ToJson"/> output.</summary>
    /// <exception cref="IOException">Not a defence evaluation.</exception>
    public static DefenseEvaluationResult FromJson(string json, string name = "<json>")
    {
        try
        {
            var r = JsonSerializer.Deserialize<DefenseEvaluationResult>(json, AttackEvaluationResult.Json) ?? throw new IOException($"{name}: empty defence evaluation");
            if (r.Images is null || r.Defenses is null || r.Objectives is null
                || r.Images.Any(i => i.Defenses is null || i.Defenses.Count != r.Defenses.Count || i.Defenses.Any(d => d.Poisoned is null || d.Poisoned.Count != r.Objectives.Count)))
                throw new IOException($"{name}: incomplete defence evaluation");
            return r;
        }
        catch (JsonException e)
        {
            throw new IOException($"{name}: unreadable defence evaluation ({e.Message})", e);
        }
    }
}

/// <summary>Measures input defences against a finished attack run (paper §4.4, Tables 5-6), with real bitstreams.</summary>
public static class DefenseEvaluation
{
    /// <summary>The file name a run stores a defence evaluation in: <c>defense.json</c>, or <c>defense-xK.json</c> for an amplified trigger.</summary>
    public static string FileName(double amplification, string extension = "json") =>
        amplification == 1 ? $"defense.{extension}" : string.Create(CultureInfo.InvariantCulture, $"defense-x{amplification:G}.{extension}");

    /// <summary>Evaluates the defences on the images of a folder (sorted by name, the first <paramref name="limit"/> when given).</summary>
    public static DefenseEvaluationResult Evaluate(AttackRun run, string imageFolder, IReadOnlyList<IInputDefense> defenses, double amplification = 1,
                                                   int? limit = null, Action<int, int>? progress = null) =>
        Evaluate(run, AttackEvaluation.Files(imageFolder, limit), defenses, amplification, progress);

    /// <summary>
    /// Evaluates <paramref name="defenses"/> against <paramref name="run"/> on <paramref name="imageFiles"/>, with the
    /// trigger amplified by <paramref name="amplification"/> (<see cref="AmplifiedTrigger"/>; 1 = as learned), reporting
    /// (done, total) after each image. Objectives on other data (segmentation, face) are skipped.
    /// </summary>
    /// <exception cref="ArgumentException">No images, no defences, duplicate defence names, or no bpp/psnr objective in the run.</exception>
    public static DefenseEvaluationResult Evaluate(AttackRun run, IReadOnlyList<string> imageFiles, IReadOnlyList<IInputDefense> defenses, double amplification = 1,
                                                   Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(imageFiles);
        ArgumentNullException.ThrowIfNull(defenses);
        if (imageFiles.Count == 0) throw new ArgumentException("no images to evaluate the defences on");
        if (defenses.Count == 0) throw new ArgumentException("no defences to evaluate");
        if (defenses.Select(d => d.Name).Distinct().Count() != defenses.Count) throw new ArgumentException($"duplicate defences: {string.Join(", ", defenses.Select(d => d.Name))}");
        if (!double.IsFinite(amplification) || amplification <= 0) throw new ArgumentException($"the trigger amplification must be positive, got {amplification}");
        var indices = Enumerable.Range(0, run.Objectives.Count).Where(k => run.Objectives[k].Data == ObjectiveData.Main).ToList();
        if (indices.Count == 0) throw new ArgumentException($"{run.Directory}: no bpp or psnr objective to evaluate the defences against");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var images = new List<DefenseImageResult>();
        for (int i = 0; i < imageFiles.Count; i++)
        {
            using (Runtime.GcQuiet.Enter()) images.Add(EvaluateImage(run, imageFiles[i], defenses, indices, amplification));
            progress?.Invoke(i + 1, imageFiles.Count);
        }
        var o = run.Record.Options;
        return new DefenseEvaluationResult(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(run.Directory))), o.Model, o.Quality, o.Trigger.Label,
            amplification, DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), sw.Elapsed.TotalSeconds,
            defenses.Select(d => d.Name).ToList(), indices.Select(k => new ObjectiveInfo(run.Objectives[k].Name, run.Objectives[k].Kind, run.Objectives[k].Description)).ToList(),
            images);
    }

    private static DefenseImageResult EvaluateImage(AttackRun run, string path, IReadOnlyList<IInputDefense> defenses, IReadOnlyList<int> objectives, double k)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = ImageFile.Load(path);
        int h = (int)x.shape[2], w = (int)x.shape[3];
        var poisoned = objectives.Select(j => k == 1 ? AttackEvaluation.Poison(run.Triggers[j], x) : AmplifiedTrigger.Poison(run.Triggers[j], x, k)).ToList();
        var rows = new List<DefendedImageResult>();
        foreach (var d in defenses)
        {
            using var inner = NewDisposeScope();
            var clean = AttackEvaluation.Code(run.Victim, d.Apply(x), x);
            var attacked = new List<DefendedPoisonResult>();
            for (int j = 0; j < objectives.Count; j++)
            {
                using var perObjective = NewDisposeScope();
                attacked.Add(new DefendedPoisonResult(run.Objectives[objectives[j]].Name, AttackEvaluation.Code(run.Victim, d.Apply(poisoned[j]), x)));
            }
            rows.Add(new DefendedImageResult(d.Name, clean, attacked));
        }
        var mse = poisoned.Select(p => nn.functional.mse_loss(p, x).item<float>()).Select(v => (double)v).ToList();
        return new DefenseImageResult(Path.GetFileName(path), w, h, AttackEvaluation.Code(run.Victim, x, x), rows) { TriggerMse = mse };
    }

    /// <summary>
    /// Writes <paramref name="result"/> into the run folder: <see cref="FileName"/> (JSON) and the Markdown table beside it;
    /// returns the two paths.
    /// </summary>
    public static (string Json, string Markdown) Write(string runDirectory, DefenseEvaluationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var json = Path.Combine(runDirectory, FileName(result.Amplification));
        var md = Path.Combine(runDirectory, FileName(result.Amplification, "md"));
        AtomicFile.WriteAllText(json, result.ToJson());
        AtomicFile.WriteAllText(md, result.ToMarkdown());
        return (json, md);
    }
}
