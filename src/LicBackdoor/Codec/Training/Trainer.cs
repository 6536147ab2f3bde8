using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LicBackdoor.Codec.Entropy;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Training;

/// <summary>Everything that defines a training run (saved as <c>options.json</c> in the run folder).</summary>
public sealed record TrainOptions
{
    public required string Model { get; init; }
    public required int N { get; init; }
    public required int M { get; init; }
    public required double Lambda { get; init; }
    public required IReadOnlyList<string> DataFolders { get; init; }
    public int Quality { get; init; }
    public int Steps { get; init; } = 20000;
    public int Batch { get; init; } = 8;
    public int Crop { get; init; } = 128;
    public double LearningRate { get; init; } = 1e-4;
    public double AuxLearningRate { get; init; } = 1e-3;
    public double ClipMaxNorm { get; init; } = 1.0;
    public ulong Seed { get; init; } = 1;
    public int ValidateEvery { get; init; } = 500;
    public int CheckpointEvery { get; init; } = 500;
    public int ValidationImages { get; init; } = 4;
    public int Patience { get; init; } = 10;
    public string? Init { get; init; }
    /// <summary>
    /// <see cref="Init"/> holds a narrower model of the same architecture and M (fewer channels N): widen it
    /// (<see cref="Widening"/>) instead of loading it as is.
    /// </summary>
    public bool WidenInit { get; init; }
    /// <summary>Levels of the Gaussian-conditional scale table built at the end (CompressAI: 64; finer tables code closer to the likelihood).</summary>
    public int ScaleLevels { get; init; } = 192;
    /// <summary>Augmentation: smallest random downscale factor of a crop's source square (1: none; see <see cref="CropAugmentation"/>).</summary>
    public double MinScale { get; init; } = 1;
    /// <summary>Augmentation: random rotations by multiples of 90°.</summary>
    public bool Rotate { get; init; }

    /// <summary>The crop augmentation these options ask for.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public CropAugmentation Augmentation => new(MinScale, Rotate);

    public void Validate()
    {
        ModelZoo.Build(Model, 8, 8).Dispose(); // known architecture
        if (N <= 0 || M <= 0 || Lambda <= 0 || Steps <= 0 || Batch <= 0 || Crop < 64 || Crop % 64 != 0)
            throw new ArgumentException("N, M, λ, steps and batch must be positive, and the crop a multiple of 64");
        if (WidenInit && Init is null) throw new ArgumentException("widening needs initial weights (--init)");
        if (DataFolders.Count == 0) throw new ArgumentException("at least one data folder is required");
        if (ValidateEvery <= 0 || CheckpointEvery <= 0) throw new ArgumentException("validation and checkpoint intervals must be positive");
        if (ScaleLevels < 2 || ScaleLevels > 1024) throw new ArgumentException("scale levels must be 2..1024");
        Augmentation.Validate();
    }
}

/// <summary>One logged training step.</summary>
public sealed record TrainStep(long Step, double Loss, double Bpp, double Mse, double Aux, double LearningRate, double? ValidationLoss);

/// <summary>
/// CompressAI's training recipe (examples/train.py): λ·255²·MSE + bpp, Adam on the network (lr 1e-4) and a
/// second Adam on the quantiles only (aux loss, lr 1e-3), gradient clipping at 1.0 on the network step,
/// ReduceLROnPlateau on a held-out validation loss; at the end the entropy bottleneck's quantiles are set by
/// bisection (<see cref="EntropyBottleneck.UpdateQuantiles"/>) before the CDF tables are built. A run folder holds <c>options.json</c>,
/// <c>checkpoint.safetensors</c> (weights, optimizer moments, step, generator states; written atomically
/// every <c>CheckpointEvery</c> steps), <c>log.csv</c>, and at the end <c>model.safetensors</c> with the CDF
/// tables updated. A killed run resumes from its checkpoint and continues bit for bit.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly TrainOptions options;
    private readonly string runDir;
    private readonly CompressionModel model;
    private readonly Adam net, aux;
    private readonly ReduceLrOnPlateau plateau;
    private readonly ImageFolderCrops data;
    private readonly SplitMix64 rng;
    private readonly Tensor validation;

    public const string OptionsFile = "options.json", CheckpointFile = "checkpoint.safetensors", LogFile = "log.csv", ModelFile = "model.safetensors";

    private const string LogHeader = "step,loss,bpp,mse,aux,lr,val_loss";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>
    /// Builds the model and loads (or widens) <see cref="TrainOptions.Init"/> when <paramref name="loadInit"/>; false when
    /// a checkpoint will replace every weight and generator state anyway (a resumed run then needs neither the work nor
    /// the file).
    /// </summary>
    private Trainer(TrainOptions options, string runDir, bool loadInit = true)
    {
        this.options = options;
        this.runDir = runDir;
        torch.random.manual_seed((long)(options.Seed & 0x7fffffffffffffffUL));
        model = ModelZoo.Build(options.Model, options.N, options.M);
        if (loadInit && options.Init is not null)
        {
            var (tensors, _) = Safetensors.Load(options.Init);
            try
            {
                if (options.WidenInit)
                {
                    using var narrow = ModelStore.FromStateDict(options.Model, tensors, options.Init);
                    Widening.Widen(narrow, model, options.Init);
                }
                else StateDict.Load(model, tensors, options.Init);
            }
            finally { foreach (var t in tensors.Values) t.Dispose(); }
        }
        model.train();
        var named = model.named_parameters().ToList();
        net = new Adam(named.Where(p => !p.name.EndsWith(".quantiles", StringComparison.Ordinal)), options.LearningRate);
        aux = new Adam(named.Where(p => p.name.EndsWith(".quantiles", StringComparison.Ordinal)), options.AuxLearningRate);
        if (net.Parameters.Count + aux.Parameters.Count != named.Count) throw new InvalidOperationException("parameter split is incomplete");
        plateau = new ReduceLrOnPlateau(patience: options.Patience);
        data = new ImageFolderCrops(options.DataFolders, options.Crop, options.ValidationImages);
        rng = new SplitMix64(options.Seed * 0x9E3779B97F4A7C15UL + 1);
        validation = data.ValidationBatch();
    }

    /// <summary>The model being trained.</summary>
    public CompressionModel Model => model;

    /// <summary>Steps done so far.</summary>
    public long Step => net.Step;

    /// <summary>Starts a new run in <paramref name="runDir"/> (which must not hold a run yet).</summary>
    public static Trainer Start(TrainOptions options, string runDir)
    {
        options.Validate();
        Directory.CreateDirectory(runDir);
        if (File.Exists(Path.Combine(runDir, OptionsFile)))
            throw new IOException($"{runDir}: already holds a run; use --resume to continue it");
        var t = new Trainer(options, runDir);
        var record = new { options, commit = GitCommit(), started = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture) };
        AtomicFile.WriteAllText(Path.Combine(runDir, OptionsFile), JsonSerializer.Serialize(record, Json));
        AtomicFile.WriteAllText(Path.Combine(runDir, LogFile), LogHeader + "\n");
        return t;
    }

    /// <summary>
    /// Reopens a run folder and restores its last checkpoint (or starts from step 0 when none was written).
    /// <paramref name="steps"/> changes the run's total number of steps (recorded in <c>options.json</c>).
    /// </summary>
    public static Trainer Resume(string runDir, int? steps = null)
    {
        var optionsPath = Path.Combine(runDir, OptionsFile);
        var (options, commit, started) = ReadRecord(runDir);
        AtomicFile.RemoveStaleTemporaries(runDir); // what a killed run was writing; the files in place are complete
        if (steps is int total && total != options.Steps)
        {
            if (total <= 0) throw new ArgumentException("steps must be positive");
            options = options with { Steps = total };
            var record = new { options, commit, started, resumed_commit = GitCommit() };
            AtomicFile.WriteAllText(optionsPath, JsonSerializer.Serialize(record, Json));
        }
        var ckpt = Path.Combine(runDir, CheckpointFile);
        bool fromCheckpoint = File.Exists(ckpt);
        var t = new Trainer(options, runDir, loadInit: !fromCheckpoint);
        if (fromCheckpoint) t.LoadCheckpoint(ckpt);
        if (t.Step > options.Steps) throw new ArgumentException($"{runDir}: the checkpoint is at step {t.Step}, beyond the requested {options.Steps} steps");
        RunLog.KeepUpTo(Path.Combine(runDir, LogFile), LogHeader, t.Step);
        return t;
    }

    /// <summary>
    /// Trains until <see cref="TrainOptions.Steps"/> (or until <paramref name="stopAfter"/> steps in this call),
    /// reporting each step. Returns true when the run is complete and <c>model.safetensors</c> is written.
    /// </summary>
    public bool Run(Action<TrainStep>? report = null, long? stopAfter = null, CancellationToken cancel = default)
    {
        long done = 0;
        while (net.Step < options.Steps)
        {
            if ((stopAfter is long s && done >= s) || cancel.IsCancellationRequested) return false;
            TrainStep step;
            using (Runtime.GcQuiet.Enter()) step = TrainOneStep();
            done++;
            double? val = null;
            if (net.Step % options.ValidateEvery == 0 || net.Step == options.Steps)
            {
                val = ValidationLoss();
                net.LearningRate = plateau.Step(val.Value, net.LearningRate);
            }
            step = step with { ValidationLoss = val, LearningRate = net.LearningRate };
            File.AppendAllText(Path.Combine(runDir, LogFile), string.Create(CultureInfo.InvariantCulture,
                $"{step.Step},{step.Loss:R},{step.Bpp:R},{step.Mse:R},{step.Aux:R},{step.LearningRate:R},{(val is double v ? v.ToString("R", CultureInfo.InvariantCulture) : "")}\n"));
            if (net.Step % options.CheckpointEvery == 0 || net.Step == options.Steps) SaveCheckpoint();
            report?.Invoke(step);
        }
        Finish();
        return true;
    }

    private TrainStep TrainOneStep()
    {
        using var scope = NewDisposeScope();
        var x = data.NextBatch(options.Batch, rng, options.Augmentation);
        net.ZeroGrad();
        aux.ZeroGrad();
        var output = model.forward(x);
        var terms = RateDistortionLoss.Compute(output, x, options.Lambda);
        terms.Loss.backward();
        if (options.ClipMaxNorm > 0)
            nn.utils.clip_grad_norm_(net.Parameters.Select(p => p.P), options.ClipMaxNorm);
        net.Update();
        var auxLoss = model.AuxLoss();
        auxLoss.backward();
        aux.Update();
        return new TrainStep(net.Step, terms.Loss.item<float>(), terms.Bpp.item<float>(), terms.Mse.item<float>(), auxLoss.item<float>(), net.LearningRate, null);
    }

    /// <summary>The rate-distortion loss of the held-out centre crops in eval mode (rounding, not noise).</summary>
    public double ValidationLoss()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.eval();
        try
        {
            var output = model.forward(validation);
            return RateDistortionLoss.Compute(output, validation, options.Lambda).Loss.item<float>();
        }
        finally { model.train(); }
    }

    private void SaveCheckpoint()
    {
        var tensors = new Dictionary<string, Tensor>();
        var meta = new Dictionary<string, string>
        {
            ["rng"] = rng.State.ToString(CultureInfo.InvariantCulture),
            ["plateau.best"] = plateau.Best.ToString("R", CultureInfo.InvariantCulture),
            ["plateau.bad"] = plateau.BadEpochs.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in model.state_dict()) tensors["model." + k] = v;
        net.SaveState("net", tensors, meta);
        aux.SaveState("aux", tensors, meta);
        RunCheckpoint.Save(Path.Combine(runDir, CheckpointFile), tensors, meta);
    }

    private void LoadCheckpoint(string path)
    {
        var (tensors, meta) = Safetensors.Load(path);
        try
        {
            LoadModelPart(model, tensors, path);
            model.train();
            net.LoadState("net", tensors, meta);
            aux.LoadState("aux", tensors, meta);
            rng.State = ulong.Parse(meta["rng"], CultureInfo.InvariantCulture);
            plateau.Best = double.Parse(meta["plateau.best"], CultureInfo.InvariantCulture);
            plateau.BadEpochs = int.Parse(meta["plateau.bad"], CultureInfo.InvariantCulture);
            RunCheckpoint.RestoreTorchRng(tensors);
        }
        catch (KeyNotFoundException e)
        {
            throw new CheckpointFormatException($"{path}: incomplete training checkpoint ({e.Message})", path, e);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>A run's recorded options, commit and start time (<c>options.json</c>).</summary>
    private static (TrainOptions Options, string Commit, string Started) ReadRecord(string runDir)
    {
        var optionsPath = Path.Combine(runDir, OptionsFile);
        if (!File.Exists(optionsPath)) throw new FileNotFoundException($"{runDir}: no {OptionsFile}, not a training run", optionsPath);
        using var doc = JsonDocument.Parse(File.ReadAllText(optionsPath));
        var options = doc.RootElement.GetProperty("options").Deserialize<TrainOptions>(Json)
                      ?? throw new IOException($"{optionsPath}: unreadable options");
        string commit = doc.RootElement.TryGetProperty("commit", out var c) ? c.GetString() ?? "unknown" : "unknown";
        string started = doc.RootElement.TryGetProperty("started", out var st) ? st.GetString() ?? "" : "";
        return (options, commit, started);
    }

    /// <summary>Loads the <c>model.*</c> tensors of a training checkpoint into <paramref name="target"/>.</summary>
    private static void LoadModelPart(CompressionModel target, IReadOnlyDictionary<string, Tensor> checkpoint, string path) =>
        StateDict.Load(target, StateDict.Section(checkpoint, "model."), path);

    /// <summary>
    /// The end of training: quantiles by bisection, CDF tables with the run's scale table, weights saved with
    /// the run's λ and step count in their metadata.
    /// </summary>
    private static void SaveFinal(CompressionModel model, TrainOptions options, string steps, string path)
    {
        model.eval();
        model.EntropyBottleneck.UpdateQuantiles();
        model.Update(force: true, GaussianConditional.ScaleTableWithLevels(options.ScaleLevels));
        ModelStore.Save(model, options.Quality, path, new Dictionary<string, string>
        {
            ["licb.lambda"] = options.Lambda.ToString("R", CultureInfo.InvariantCulture),
            ["licb.steps"] = steps,
        });
    }

    /// <summary>
    /// Writes the weights of a run's last checkpoint (CDF tables updated) to <paramref name="outPath"/>, so a run
    /// that is still going, or was stopped early, gives a usable model.
    /// </summary>
    public static long Export(string runDir, string outPath)
    {
        var ckpt = Path.Combine(runDir, CheckpointFile);
        if (!File.Exists(ckpt)) throw new FileNotFoundException($"{runDir}: no {CheckpointFile} yet", ckpt);
        var (options, _, _) = ReadRecord(runDir);
        var (tensors, meta) = Safetensors.Load(ckpt);
        try
        {
            using var model = ModelZoo.Build(options.Model, options.N, options.M);
            LoadModelPart(model, tensors, ckpt);
            var step = meta.TryGetValue("net.step", out var st) ? st : "?";
            SaveFinal(model, options, step, outPath);
            return long.TryParse(step, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : -1;
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    private void Finish()
    {
        SaveFinal(model, options, net.Step.ToString(CultureInfo.InvariantCulture), Path.Combine(runDir, ModelFile));
        model.train();
    }

    /// <summary>The git commit this program was built from (recorded at build time), else that of the working directory, else "unknown".</summary>
    internal static string GitCommit()
    {
        var info = typeof(Trainer).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion;
        int plus = info?.IndexOf('+') ?? -1;
        if (info is not null && plus >= 0 && info.Length - plus - 1 >= 7) return info[(plus + 1)..];
        try
        {
            var psi = new ProcessStartInfo("git", "rev-parse HEAD") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi);
            if (p is null) return "unknown";
            var s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(5000);
            return p.ExitCode == 0 && s.Length > 0 ? s : "unknown";
        }
        catch (System.ComponentModel.Win32Exception) { return "unknown"; }
    }

    public void Dispose()
    {
        net.Dispose(); aux.Dispose(); data.Dispose(); validation.Dispose(); model.Dispose();
    }
}
