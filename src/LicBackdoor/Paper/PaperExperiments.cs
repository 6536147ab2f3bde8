using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Defenses;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Downstream;

namespace LicBackdoor.Paper;

/// <summary>
/// One attack run of the paper's tables: an id within its table (<c>t4-no-topk-q3</c>) and its full options. Its folder
/// (<see cref="PaperPlanner.RunFolder"/>) ends in a hash of the options and of the vanilla weights, so a run trained under
/// other settings (another budget, other weights) is never mistaken for this one.
/// </summary>
/// <param name="Id">Readable id (unique within a table plan).</param>
/// <param name="Options">The attack's options.</param>
public sealed record PaperAttack(string Id, AttackOptions Options)
{
    /// <summary>
    /// The cache key: the first 10 hex digits of SHA-256 over the options' JSON and the vanilla fingerprint. The
    /// segmentation net enters by its file's contents, not its path: the default net lives beside the program
    /// (<c>models/</c> of the build output), so a Debug build, a Release build or a copied program would otherwise key
    /// the same experiment differently.
    /// </summary>
    public string Key(string vanillaFingerprint)
    {
        var keyed = Options with { CheckpointEvery = 1, SegWeights = ContentKey(Options.SegWeights) };
        var json = JsonSerializer.Serialize(keyed, BackdoorTrainer.Json);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(json + "\n" + vanillaFingerprint));
        return Convert.ToHexString(hash)[..10].ToLowerInvariant();
    }

    /// <summary><c>sha256:HEX</c> of the file's bytes, or the path itself when there is no such file (null stays null).</summary>
    private static string? ContentKey(string? path)
    {
        if (path is null || !File.Exists(path)) return path;
        return "sha256:" + FileDigest.Sha256Hex(path);
    }
}

/// <summary>A defence evaluation of one attack (Tables 5-6): the defences and the trigger amplification.</summary>
public sealed record PaperDefense(string AttackId, IReadOnlyList<string> Defenses, double Amplification)
{
    /// <summary>The cache file name in the run folder: <c>paper-defense-KEY.json</c>, KEY a hash of defences, amplification and images.</summary>
    public string CacheFile(IReadOnlyList<string> imageNames)
    {
        var text = string.Join("|", Defenses) + "\n" + Amplification.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "\n" + string.Join("|", imageNames);
        return $"paper-defense-{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..10].ToLowerInvariant()}.json";
    }
}

/// <summary>Where the data and the downstream nets come from (resolved once per invocation).</summary>
/// <param name="DataRoot">The data root (null: <see cref="Data.DataRoot.Resolve"/>'s default).</param>
/// <param name="SegWeights">The segmentation net of Tables 1 and 3 (null: <see cref="SegmentationNets.DefaultWeights"/>).</param>
/// <param name="FaceWeights">The face net of Table 2 (null: the data root's face-api manifest).</param>
public sealed record PaperInputs(string? DataRoot = null, string? SegWeights = null, string? FaceWeights = null)
{
    private string Root => Data.DataRoot.Resolve(DataRoot);

    /// <summary>Kodak, the RD evaluation images.</summary>
    public string Kodak => Data.DataRoot.Folder("kodak", DataRoot);

    /// <summary>The main training folders: <c>photos</c> and <c>camvid/train</c>, those that exist.</summary>
    public IReadOnlyList<string> TrainingFolders
    {
        get
        {
            var folders = new[] { "photos", Path.Combine("camvid", "train") }.Select(f => Path.Combine(Root, f)).Where(Directory.Exists).ToList();
            return folders.Count > 0 ? folders : throw new DirectoryNotFoundException($"{Root}: neither photos/ nor camvid/train/ exists (the attacks' training images)");
        }
    }

    /// <summary>The segmentation net's weights file.</summary>
    public string SegNet => Path.GetFullPath(SegWeights ?? SegmentationNets.DefaultWeights(DataRoot));

    /// <summary>CamVid training scenes of the segmentation objectives.</summary>
    public string SegTrain => Path.Combine(Root, "camvid", "train");

    /// <summary>The face net's manifest.</summary>
    public string FaceNet => Path.GetFullPath(FaceWeights ?? Path.Combine(Root, FaceRecognitionNet.DataFolder, FaceRecognitionNet.ManifestFileName));

    /// <summary>The faces folder.</summary>
    public string Faces => Path.Combine(Root, "faces");

    /// <summary>Why the segmentation tables cannot run, or null when they can.</summary>
    public string? SegMissing()
    {
        if (!File.Exists(SegNet)) return $"segmentation net weights not found: {SegNet}";
        if (!Directory.Exists(SegTrain)) return $"CamVid training scenes not found: {SegTrain}";
        var test = Path.Combine(Root, "camvid", "test");
        if (!Directory.Exists(test)) return $"CamVid test images not found: {test}";
        return null;
    }

    /// <summary>Why the face table cannot run, or null when it can.</summary>
    public string? FaceMissing()
    {
        if (!File.Exists(FaceNet)) return $"face recognition net not found: {FaceNet}";
        if (!File.Exists(Path.Combine(Faces, "identities.csv"))) return $"face crops not found: {Path.Combine(Faces, "identities.csv")}";
        return null;
    }
}

/// <summary>Builds the attack options of the paper's experiments from a budget.</summary>
public sealed class PaperPlanner(PaperBudget budget, PaperInputs inputs)
{
    /// <summary>The budget.</summary>
    public PaperBudget Budget => budget;

    /// <summary>The inputs.</summary>
    public PaperInputs Inputs => inputs;

    /// <summary>The attack of <paramref name="objectives"/> with a trigger of <paramref name="trigger"/>'s kind and options at quality <paramref name="quality"/>.</summary>
    public AttackOptions Options(int quality, TriggerSpec trigger, IReadOnlyList<string> objectives)
    {
        var parsed = objectives.Select(BackdoorObjective.Parse).ToList();
        bool seg = parsed.Any(o => o.Data == ObjectiveData.Segmentation), face = parsed.Any(o => o.Data == ObjectiveData.Face);
        return new AttackOptions
        {
            Model = budget.Model, Quality = quality, Objectives = objectives.ToArray(),
            Trigger = trigger with { WidthMultiplier = budget.Width },
            DataFolders = inputs.TrainingFolders.Select(Path.GetFullPath).ToArray(),
            Steps = seg || face ? budget.DownstreamSteps ?? budget.Steps : budget.Steps, Batch = seg || face ? budget.DownstreamBatch ?? budget.Batch : budget.Batch, Crop = budget.Crop,
            LearningRate = budget.LearningRate, TriggerLearningRate = budget.TriggerLearningRate, Schedule = budget.Schedule,
            EpsilonStart = 10 * StealthPenalty.PaperEpsilon, CheckpointEvery = budget.CheckpointEvery,
            SegWeights = seg ? inputs.SegNet : null, SegData = seg ? Path.GetFullPath(inputs.SegTrain) : null,
            SegProcessingSize = budget.SegProcessingSize, SegWidth = budget.SegSize.Width, SegHeight = budget.SegSize.Height,
            FaceWeights = face ? inputs.FaceNet : null, FaceData = face ? Path.GetFullPath(inputs.Faces) : null, FaceSize = budget.FaceSize,
        };
    }

    /// <summary>A trigger of the given kind (default options).</summary>
    public static TriggerSpec Trigger(string kind) => new(kind);

    /// <summary>The downstream evaluation settings of the budget.</summary>
    public DownstreamSettings Downstream => new(budget.SegEvalImages, SegmentationNets.DefaultTransferWeights(), inputs.DataRoot is null ? null : Path.GetFullPath(inputs.DataRoot));

    /// <summary>The vanilla weights' fingerprint of a quality (part of every run's cache key).</summary>
    public string Fingerprint(int quality)
    {
        lock (fingerprints)
        {
            if (fingerprints.TryGetValue(quality, out var fp)) return fp;
            var codec = ModelStore.Open(budget.Model, quality);
            try { return fingerprints[quality] = codec.Fingerprint.ToString("x16"); }
            finally { codec.Model.Dispose(); }
        }
    }

    private readonly Dictionary<int, string> fingerprints = new();

    /// <summary>The run folder of an attack under <paramref name="outDir"/>.</summary>
    /// <remarks>
    /// The name is derived from the options alone (quality, trigger, objectives, then the key), so experiments with equal
    /// options in different tables (Table 4's full model and Fig. 4's q3 run, say) share one run.
    /// </remarks>
    public string RunFolder(string outDir, PaperAttack attack)
    {
        var o = attack.Options;
        var label = $"q{o.Quality}-{o.Trigger.Label}-{string.Join("+", o.Objectives)}";
        var safe = new System.Text.StringBuilder();
        foreach (var c in label.ToLowerInvariant())
        {
            char d = char.IsAsciiLetterOrDigit(c) || c is '.' or '=' or '+' ? c : '-';
            if (d != '-' || (safe.Length > 0 && safe[^1] != '-')) safe.Append(d);
        }
        return Path.Combine(outDir, "runs", $"{safe.ToString().TrimEnd('-')}-{attack.Key(Fingerprint(o.Quality))}");
    }

    /// <summary>Table 5's defences (none first, as the reference column).</summary>
    public static IReadOnlyList<string> Table5Defenses { get; } = ["none", .. Defense.Table5.Where(d => d != "none")];

    /// <summary>Table 6's defences (none as the reference).</summary>
    public static IReadOnlyList<string> Table6Defenses { get; } = ["none", "blur:0.6", "squeeze:3"];
}
