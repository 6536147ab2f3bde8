using System.Globalization;
using System.Text.Json;
using LicBackdoor.Codec.Training;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Runtime;
using LicBackdoor.Weights;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Downstream.Training;

/// <summary>Everything that defines a segmentation training run (saved as <c>options.json</c> in the run folder).</summary>
public sealed record SegmentationTrainOptions
{
    /// <summary>Architecture: <c>enet</c> or <c>resnet</c> (<see cref="SegmentationNets.Names"/>).</summary>
    public string Architecture { get; init; } = "enet";

    /// <summary>SegResNet's base width (ignored for ENet).</summary>
    public int ResNetWidth { get; init; } = SegResNet.DefaultWidth;

    /// <summary>The data root holding <c>camvid/</c> (full path).</summary>
    public required string DataRoot { get; init; }

    /// <summary>Total steps (the recommended ENet run; SegResNet needs about half).</summary>
    public int Steps { get; init; } = 12000;

    public int Batch { get; init; } = 8;

    /// <summary>Training crop width (a multiple of the architecture's size multiple: 8 for ENet).</summary>
    public int CropWidth { get; init; } = 240;

    /// <summary>Training crop height.</summary>
    public int CropHeight { get; init; } = 176;

    /// <summary>Smallest random image scale before cropping.</summary>
    public double ScaleMin { get; init; } = 0.5;

    /// <summary>Largest random image scale before cropping.</summary>
    public double ScaleMax { get; init; } = 1.0;

    /// <summary>The scale images are resized by at evaluation (recorded in the weights' preprocessing).</summary>
    public double InputScale { get; init; } = 0.75;

    /// <summary>Colour jitter strength (brightness, contrast, saturation in [1 − j, 1 + j]).</summary>
    public double Jitter { get; init; } = 0.15;

    /// <summary>Adam learning rate (ENet paper: 5e-4).</summary>
    public double LearningRate { get; init; } = 5e-4;

    /// <summary>Adam L2 weight decay (ENet paper: 2e-4).</summary>
    public double WeightDecay { get; init; } = 2e-4;

    /// <summary>Linear warm-up steps before the cosine decay.</summary>
    public int WarmupSteps { get; init; } = 100;

    /// <summary>The learning rate at the last step as a fraction of <see cref="LearningRate"/>.</summary>
    public double FinalLearningRateFraction { get; init; } = 0.01;

    /// <summary>c in ENet's class weight 1 / ln(c + p_class).</summary>
    public double ClassWeightC { get; init; } = 1.02;

    public ulong Seed { get; init; } = 1;
    public int ValidateEvery { get; init; } = 500;
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Test images (evenly spaced over the split) scored at each validation.</summary>
    public int ValidationImages { get; init; } = 12;

    /// <summary>Start from these weights (a safetensors file of the same architecture) instead of a fresh net.</summary>
    public string? Init { get; init; }

    /// <summary>The augmentation these options describe.</summary>
    public SegmentationAugmentation Augmentation => new(CropWidth, CropHeight, ScaleMin, ScaleMax, Jitter);

    /// <summary>The preprocessing recorded with the weights.</summary>
    public SegmentationPreprocessing Preprocessing => SegmentationPreprocessing.Normalized(InputScale, Architecture == "enet" ? 8 : 1);

    /// <summary>Checks the values; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (!SegmentationNets.Names.Contains(Architecture))
            throw new ArgumentException($"unknown architecture '{Architecture}' ({string.Join(", ", SegmentationNets.Names)})");
        if (Steps <= 0 || Batch <= 0) throw new ArgumentException("steps and batch must be positive");
        Augmentation.Validate();
        int multiple = Architecture == "enet" ? 8 : 1;
        if (CropWidth % multiple != 0 || CropHeight % multiple != 0)
            throw new ArgumentException($"{Architecture} needs crop sides that are multiples of {multiple}, got {CropWidth}x{CropHeight}");
        Preprocessing.Validated();
        if (!(LearningRate > 0) || !(WeightDecay >= 0) || WarmupSteps < 0 || !(FinalLearningRateFraction is >= 0 and <= 1))
            throw new ArgumentException("learning rate must be positive, weight decay and warm-up non-negative, the final fraction in [0, 1]");
        if (!(ClassWeightC > 1)) throw new ArgumentException("the class weight constant c must be above 1");
        if (ValidateEvery <= 0 || CheckpointEvery <= 0 || ValidationImages < 0)
            throw new ArgumentException("validation and checkpoint intervals must be positive, validation images non-negative");
        if (ResNetWidth is < 4 or > 256) throw new ArgumentException("the ResNet width must be 4..256");
    }
}

/// <summary>One logged training step; <see cref="ValidationMeanIoU"/> is set on validation steps.</summary>
public sealed record SegmentationTrainStep(long Step, double Loss, double LearningRate, double? ValidationMeanIoU, double? ValidationAccuracy);

/// <summary>
/// Trains a CamVid segmentation net (<see cref="ENet"/> or <see cref="SegResNet"/>) with ENet's recipe (Paszke
/// et al. 2016, §4): cross entropy weighted per class by <c>1 / ln(1.02 + p_class)</c> (<see cref="ClassWeights"/>;
/// void ignored), Adam with lr 5e-4 and L2 weight decay 2e-4; here with a linear warm-up then cosine decay to
/// 1 % of the rate, and augmentation by random scale, crop, horizontal flip and colour jitter
/// (<see cref="CamVidTrainingSet"/>), BatchNorm in train mode. The run folder holds <c>options.json</c> (with
/// the git commit and the class weights), <c>log.csv</c>, <c>checkpoint.safetensors</c> (weights, Adam moments,
/// step, generator states; written atomically every <c>CheckpointEvery</c> steps) and at the end
/// <c>model.safetensors</c>, whose metadata records the architecture and the preprocessing
/// (<see cref="SegmentationNets.FromFile"/> reads it). A killed run resumes from its checkpoint bit for bit.
/// </summary>
public sealed class SegmentationTrainer : IDisposable
{
    public const string OptionsFile = "options.json", CheckpointFile = "checkpoint.safetensors", LogFile = "log.csv", ModelFile = "model.safetensors";

    private const string LogHeader = "step,loss,lr,val_miou,val_accuracy";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly SegmentationTrainOptions options;
    private readonly string runDir;
    private readonly SegmentationNet net;
    private readonly Adam adam;
    private readonly CamVidTrainingSet data;
    private readonly IReadOnlyList<CamVidSample> validation;
    private readonly SplitMix64 rng;
    private readonly Tensor classWeights;

    private SegmentationTrainer(SegmentationTrainOptions options, string runDir)
    {
        this.options = options;
        this.runDir = runDir;
        data = new CamVidTrainingSet(CamVid.Open("train", options.DataRoot));
        var test = CamVid.Open("test", options.DataRoot);
        int v = Math.Min(options.ValidationImages, test.Samples.Count);
        validation = Enumerable.Range(0, v).Select(i => test.Samples[(int)((long)i * test.Samples.Count / v)]).ToList();
        Weights = ClassWeights(data.Histogram, options.ClassWeightC);
        classWeights = tensor(Weights.Select(w => (float)w).ToArray());
        torch.random.manual_seed((long)(options.Seed & 0x7fffffffffffffffUL));
        net = SegmentationNets.Create(options.Architecture, options.Preprocessing, options.ResNetWidth);
        if (options.Init is not null)
        {
            var (tensors, _) = Safetensors.Load(options.Init);
            try { net.LoadStateDict(tensors, options.Init); }
            finally { foreach (var t in tensors.Values) t.Dispose(); }
        }
        net.train();
        adam = new Adam(net.named_parameters(), options.LearningRate) { WeightDecay = options.WeightDecay };
        rng = new SplitMix64(options.Seed * 0x9E3779B97F4A7C15UL + 7);
        adam.LearningRate = LearningRateAt(0);
    }

    /// <summary>The net being trained.</summary>
    public SegmentationNet Net => net;

    /// <summary>Steps done so far.</summary>
    public long Step => adam.Step;

    /// <summary>The class weights of the loss (12 values, void's 0).</summary>
    public IReadOnlyList<double> Weights { get; }

    /// <summary>
    /// ENet's class weights (Paszke et al. 2016, §5.2): <c>w_c = 1 / ln(c + p_c)</c> with p_c the share of class
    /// c among the non-void pixels of <paramref name="histogram"/> (pixels per label 0..11), c = 1.02 (bounded
    /// between about 1.46 for a class that fills everything and 50.5 for an absent one); void gets 0.
    /// </summary>
    public static double[] ClassWeights(IReadOnlyList<long> histogram, double c = 1.02)
    {
        if (histogram.Count != SegmentationNet.NumClasses) throw new ArgumentException($"expected {SegmentationNet.NumClasses} counts (labels 0..11), got {histogram.Count}");
        if (histogram.Any(n => n < 0)) throw new ArgumentException("pixel counts must be non-negative");
        double scored = histogram.Take(CamVid.ScoredClasses).Sum(n => (double)n);
        if (scored <= 0) throw new ArgumentException("the label histogram has no non-void pixels");
        var w = new double[SegmentationNet.NumClasses];
        for (int k = 0; k < CamVid.ScoredClasses; k++) w[k] = 1 / Math.Log(c + histogram[k] / scored);
        w[CamVid.VoidClass] = 0;
        return w;
    }

    /// <summary>
    /// The training loss: cross entropy of <paramref name="logits"/> <c>[N, 12, H, W]</c> against
    /// <paramref name="labels"/> <c>[N, H, W]</c>, weighted per class, void (11) ignored: the weighted mean
    /// over non-void pixels (PyTorch's <c>cross_entropy(weight=w, ignore_index=11)</c>).
    /// </summary>
    public static Tensor Loss(Tensor logits, Tensor labels, Tensor weights) =>
        F.cross_entropy(logits, labels, weight: weights.to(logits.device), ignore_index: CamVid.VoidClass);

    /// <summary>The learning rate of step <paramref name="step"/> (0-based): linear warm-up, then cosine to the final fraction.</summary>
    public double LearningRateAt(long step)
    {
        double lr = options.LearningRate, final = lr * options.FinalLearningRateFraction;
        if (step < options.WarmupSteps) return lr * (step + 1) / options.WarmupSteps;
        long span = Math.Max(1, options.Steps - options.WarmupSteps);
        double t = Math.Min(1.0, (double)(step - options.WarmupSteps) / span);
        return final + 0.5 * (lr - final) * (1 + Math.Cos(Math.PI * t));
    }

    /// <summary>Starts a new run in <paramref name="runDir"/> (which must not hold a run yet).</summary>
    public static SegmentationTrainer Start(SegmentationTrainOptions options, string runDir)
    {
        options.Validate();
        Directory.CreateDirectory(runDir);
        if (File.Exists(Path.Combine(runDir, OptionsFile)))
            throw new IOException($"{runDir}: already holds a run; use --resume to continue it");
        var t = new SegmentationTrainer(options, runDir);
        var record = new { options, class_weights = t.Weights, commit = Trainer.GitCommit(), started = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture) };
        AtomicFile.WriteAllText(Path.Combine(runDir, OptionsFile), JsonSerializer.Serialize(record, Json));
        AtomicFile.WriteAllText(Path.Combine(runDir, LogFile), LogHeader + "\n");
        return t;
    }

    /// <summary>
    /// Reopens a run folder and restores its last checkpoint (or starts from step 0 when none was written).
    /// <paramref name="steps"/> changes the run's total number of steps (recorded in <c>options.json</c>; the
    /// cosine schedule stretches to the new total from there on).
    /// </summary>
    public static SegmentationTrainer Resume(string runDir, int? steps = null)
    {
        var optionsPath = Path.Combine(runDir, OptionsFile);
        if (!File.Exists(optionsPath)) throw new FileNotFoundException($"{runDir}: no {OptionsFile}, not a segmentation training run", optionsPath);
        using var doc = JsonDocument.Parse(File.ReadAllText(optionsPath));
        var options = doc.RootElement.GetProperty("options").Deserialize<SegmentationTrainOptions>(Json)
                      ?? throw new IOException($"{optionsPath}: unreadable options");
        if (steps is int total && total != options.Steps)
        {
            if (total <= 0) throw new ArgumentException("steps must be positive");
            options = options with { Steps = total };
            var root = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(doc.RootElement.GetRawText(), Json)!;
            root["options"] = JsonSerializer.SerializeToElement(options, Json);
            root["resumed_commit"] = JsonSerializer.SerializeToElement(Trainer.GitCommit(), Json);
            AtomicFile.WriteAllText(optionsPath, JsonSerializer.Serialize(root, Json));
        }
        options.Validate();
        var t = new SegmentationTrainer(options, runDir);
        var ckpt = Path.Combine(runDir, CheckpointFile);
        if (File.Exists(ckpt)) t.LoadCheckpoint(ckpt);
        if (t.Step > options.Steps) throw new ArgumentException($"{runDir}: the checkpoint is at step {t.Step}, beyond the requested {options.Steps} steps");
        RunLog.KeepUpTo(Path.Combine(runDir, LogFile), LogHeader, t.Step);
        return t;
    }

    /// <summary>
    /// Trains until <see cref="SegmentationTrainOptions.Steps"/> (or until <paramref name="stopAfter"/> steps in
    /// this call), reporting each step. Returns true when the run is complete and <c>model.safetensors</c> is written.
    /// </summary>
    public bool Run(Action<SegmentationTrainStep>? report = null, long? stopAfter = null, CancellationToken cancel = default)
    {
        long done = 0;
        while (adam.Step < options.Steps)
        {
            if ((stopAfter is long s && done >= s) || cancel.IsCancellationRequested) return false;
            SegmentationTrainStep step;
            using (Runtime.GcQuiet.Enter()) step = TrainOneStep();
            done++;
            if (options.ValidationImages > 0 && (adam.Step % options.ValidateEvery == 0 || adam.Step == options.Steps))
            {
                var r = Validate();
                step = step with { ValidationMeanIoU = r.MeanIoU, ValidationAccuracy = r.GlobalAccuracy };
            }
            var c = CultureInfo.InvariantCulture;
            File.AppendAllText(Path.Combine(runDir, LogFile), string.Create(c,
                $"{step.Step},{step.Loss:R},{step.LearningRate:R},{step.ValidationMeanIoU?.ToString("R", c)},{step.ValidationAccuracy?.ToString("R", c)}\n"));
            if (adam.Step % options.CheckpointEvery == 0 || adam.Step == options.Steps) SaveCheckpoint();
            report?.Invoke(step);
        }
        net.Save(Path.Combine(runDir, ModelFile), FinalMetadata(adam.Step));
        return true;
    }

    private SegmentationTrainStep TrainOneStep()
    {
        using var scope = NewDisposeScope();
        double lr = LearningRateAt(adam.Step);
        adam.LearningRate = lr;
        var (images, labels) = data.NextBatch(options.Batch, options.Augmentation, rng);
        adam.ZeroGrad();
        var input = net.Preprocessing.Normalize(images * KeptScalars.GreyLevels);
        var loss = Loss(net.forward(input), labels, classWeights);
        loss.backward();
        adam.Update();
        return new SegmentationTrainStep(adam.Step, loss.item<float>(), lr, null, null);
    }

    /// <summary>Scores the net on the validation images (test split) in eval mode, then returns it to train mode.</summary>
    public SegmentationReport Validate()
    {
        try { return SegmentationEvaluation.Evaluate(net, validation, "test", "training"); }
        finally { net.train(); }
    }

    private Dictionary<string, string> FinalMetadata(long steps) => new()
    {
        ["licb.steps"] = steps.ToString(CultureInfo.InvariantCulture),
        ["licb.trained"] = $"licb segment train (seed {options.Seed}, {options.Batch}x{options.CropWidth}x{options.CropHeight} crops, scale {options.ScaleMin:R}-{options.ScaleMax:R})",
    };

    private void SaveCheckpoint()
    {
        var tensors = new Dictionary<string, Tensor>();
        var meta = new Dictionary<string, string> { ["rng"] = rng.State.ToString(CultureInfo.InvariantCulture) };
        foreach (var (k, v) in net.state_dict()) tensors["model." + k] = v;
        adam.SaveState("adam", tensors, meta);
        RunCheckpoint.Save(Path.Combine(runDir, CheckpointFile), tensors, meta);
    }

    private void LoadCheckpoint(string path)
    {
        var (tensors, meta) = Safetensors.Load(path);
        try
        {
            net.LoadStateDict(StateDict.Section(tensors, "model."), path);
            net.train();
            adam.LoadState("adam", tensors, meta);
            rng.State = ulong.Parse(meta["rng"], CultureInfo.InvariantCulture);
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

    /// <summary>
    /// Writes the weights of a run's last checkpoint (with the architecture and preprocessing metadata) to
    /// <paramref name="outPath"/>, so a run that is still going, or was stopped early, gives a usable net.
    /// Returns the checkpoint's step.
    /// </summary>
    public static long Export(string runDir, string outPath)
    {
        var ckpt = Path.Combine(runDir, CheckpointFile);
        if (!File.Exists(ckpt)) throw new FileNotFoundException($"{runDir}: no {CheckpointFile} yet", ckpt);
        var optionsPath = Path.Combine(runDir, OptionsFile);
        if (!File.Exists(optionsPath)) throw new FileNotFoundException($"{runDir}: no {OptionsFile}, not a segmentation training run", optionsPath);
        using var doc = JsonDocument.Parse(File.ReadAllText(optionsPath));
        var options = doc.RootElement.GetProperty("options").Deserialize<SegmentationTrainOptions>(Json)
                      ?? throw new IOException($"{optionsPath}: unreadable options");
        var (tensors, meta) = Safetensors.Load(ckpt);
        try
        {
            using var net = SegmentationNets.Create(options.Architecture, options.Preprocessing, options.ResNetWidth);
            net.LoadStateDict(StateDict.Section(tensors, "model."), ckpt);
            long step = long.Parse(meta.GetValueOrDefault("adam.step", "-1"), CultureInfo.InvariantCulture);
            net.Save(outPath, new Dictionary<string, string> { ["licb.steps"] = step.ToString(CultureInfo.InvariantCulture) });
            return step;
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    public void Dispose()
    {
        adam.Dispose(); data.Dispose(); classWeights.Dispose(); net.Dispose();
    }
}
