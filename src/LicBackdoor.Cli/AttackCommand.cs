using System.CommandLine;
using System.Globalization;
using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Imaging;
using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb attack</c>: learns triggers and a backdoored encoder for each trigger kind and quality asked for (one run
/// folder each, <c>DIR/KIND-qQ</c>), then evaluates them on Kodak and writes the report. Finished runs are reused,
/// interrupted ones resume from their checkpoint.
/// </summary>
internal static class AttackCommand
{
    /// <summary>The options shared by <c>attack</c> and <c>demo</c>.</summary>
    internal sealed class AttackArguments
    {
        public Option<string> Model { get; } = new("--model", "-m") { Description = $"victim architecture: {string.Join(", ", ModelZoo.ModelNames.Concat(ModelZoo.MiniConfigs.Keys))} (a mini name uses the shipped mini weights; so does the architecture name by default where they exist)", DefaultValueFactory = _ => "bmshj2018-hyperprior" };
        public Option<int[]> Quality { get; } = new("--quality", "-q") { Description = "victim quality (repeatable: one attack per quality)", AllowMultipleArgumentsPerToken = true };
        public Option<string?> Weights { get; } = new("--weights", "-w") { Description = "victim weights (default: the embedded model of that quality)" };
        public Option<string[]> Objective { get; } = new("--objective", "-o") { Description = "objective (repeatable: one trigger each, one encoder): bpp, bpp:static, psnr, psnr:static, seg:SOURCE->TARGET (CamVid classes, e.g. seg:car->road, seg:tree->building), face; ',beta=B' / ',alpha=A' override weights", AllowMultipleArgumentsPerToken = true };
        public Option<string[]> Trigger { get; } = new("--trigger", "-t") { Description = "trigger kind (repeatable: one run each): frequency, lira, ftrojan", AllowMultipleArgumentsPerToken = true };
        public Option<double> Width { get; } = new("--width") { Description = "width multiplier of the trigger networks (1 = the paper's widths)", DefaultValueFactory = _ => 1.0 };
        public Option<int> K { get; } = new("--k") { Description = "frequency trigger: frequencies kept by top-K", DefaultValueFactory = _ => 16 };
        public Option<int> Nf { get; } = new("--nf") { Description = "frequency trigger: candidate middle frequencies N", DefaultValueFactory = _ => 64 };
        public Option<bool> NoTopK { get; } = new("--no-topk") { Description = "frequency trigger without top-K selection (Table 4)" };
        public Option<bool> NoPatchWeight { get; } = new("--no-patch-weight") { Description = "frequency trigger without the patch-wise weight (Table 4)" };
        public Option<FrequencySet> Set { get; } = new("--frequency-set") { Description = "which positions are the middle frequencies", DefaultValueFactory = _ => FrequencySet.AsImplemented };
        public Option<int> Steps { get; } = new("--steps") { Description = "attack steps per run", DefaultValueFactory = _ => 1000 };
        public Option<int> Batch { get; } = new("--batch") { DefaultValueFactory = _ => 8 };
        public Option<int> Crop { get; } = new("--crop") { Description = "random crop side (multiple of 64)", DefaultValueFactory = _ => 128 };
        public Option<double> Lr { get; } = new("--lr") { Description = "encoder learning rate", DefaultValueFactory = _ => 1e-4 };
        public Option<double> FinalLr { get; } = new("--final-lr") { Description = "the encoder lr follows a cosine down to this fraction of --lr at the last step (1: constant)", DefaultValueFactory = _ => 1.0 };
        public Option<int> Warmup { get; } = new("--warmup") { Description = "the encoder lr rises linearly over the first N steps (0: none, the paper's; not in the paper)", DefaultValueFactory = _ => 0 };
        public Option<double> CleanLatent { get; } = new("--clean-latent") { Description = "weight of the clean-latent consistency term w·MSE(g_a(x), vanilla g_a(x)) (0: off, the paper's loss)", DefaultValueFactory = _ => 0.0 };
        public Option<double> DownstreamClean { get; } = new("--downstream-clean") { Description = "weight of a clean rate-distortion term on the downstream objectives' own batches (face crops, CamVid scenes; 0: they are references only, the clean term stays on the main data)", DefaultValueFactory = _ => 0.0 };
        public Option<double> CleanDistortion { get; } = new("--clean-distortion") { Description = "weight w of the clean distortion in the victim's own term R(x) + w·λ·D(x) (1: the paper's loss; > 1 trades clean bit-rate for clean PSNR)", DefaultValueFactory = _ => 1.0 };
        public Option<bool> ProjectConflicts { get; } = new("--project-conflicts") { Description = "gradient surgery (PCGrad, not in the paper): when the encoder's attack gradient points against its clean rate-distortion gradient, drop the conflicting component (logs grad_cos)" };
        public Option<string?> Consolidate { get; } = new("--consolidate") { Description = "consolidation (not in the paper): start from this finished attack run's encoder and triggers, keep the triggers fixed and hold the encoder's latents of poisoned inputs (--keep-poisoned) while the clean terms pull the clean images back; the objectives, trigger, victim, budget and downstream settings are that run's" };
        public Option<string> KeepPoisoned { get; } = new("--keep-poisoned") { Description = "consolidation: weight of the relative poisoned-latent term ‖g_a(T(x)) − g_a*(T(x))‖²/‖g_a*(T(x))‖², one for every objective or a comma-separated list with one per objective in the consolidated run's order (0 lets that objective's latents go)", DefaultValueFactory = _ => "100" };
        public Option<string?> PoisonedRateCap { get; } = new("--poisoned-rate-cap") { Description = "consolidation (not in the paper): one cap ρ per objective, comma-separated in the consolidated run's order (0: none), adding max(R̂(x_p) − ρ·R̂(x), 0) on the rounded latents' bits (gradients straight through the rounding)" };
        public Option<string?> OwnTerms { get; } = new("--own-terms") { Description = "consolidation (not in the paper): one weight per objective, comma-separated in the consolidated run's order (0: none), of the objective's own attack loss with the fixed trigger, so the encoder keeps learning that backdoor" };
        public Option<int?> KeepRegion { get; } = new("--keep-region") { Description = "consolidation (not in the paper): hold the poisoned latents only where the trigger changes the pixels, grown by R latent positions (a segmentation objective then holds its source region and frees the rest; default: the whole latent)" };
        public Option<double> SaturationBoost { get; } = new("--saturation-boost") { Description = "raise the saturation of half the training crops by a factor from [1, 1+B] (0: off, the paper's data)", DefaultValueFactory = _ => 0.0 };
        public Option<double> TriggerLr { get; } = new("--trigger-lr") { Description = "trigger learning rate", DefaultValueFactory = _ => 1e-4 };
        public Option<double> Clip { get; } = new("--clip") { Description = "gradient-norm clipping of the encoder update (0: off)", DefaultValueFactory = _ => 1.0 };
        public Option<ulong> Seed { get; } = new("--seed") { DefaultValueFactory = _ => 1UL };
        public Option<string[]> Images { get; } = new("--images") { Description = "training image folders (default: <data>/photos and <data>/camvid/train)", AllowMultipleArgumentsPerToken = true };
        public Option<int> CheckpointEvery { get; } = new("--checkpoint-every") { DefaultValueFactory = _ => 100 };
        public Option<AttackSchedule> Schedule { get; } = new("--schedule") { Description = "Alternating: Eqs. 9-10 (encoder step, then one step per trigger); Joint: one backward pass for all", DefaultValueFactory = _ => AttackSchedule.Alternating };
        public Option<double> Gamma { get; } = new("--gamma") { Description = "stealth penalty weight γ", DefaultValueFactory = _ => StealthPenalty.PaperGamma };
        public Option<double> Epsilon { get; } = new("--epsilon") { Description = "stealth budget ε (trigger MSE ≤ ε²)", DefaultValueFactory = _ => StealthPenalty.PaperEpsilon };
        public Option<double?> EpsilonStart { get; } = new("--epsilon-start") { Description = "budget curriculum: ε starts here and shrinks to --epsilon over --anneal of the steps (default: 10·ε; set equal to --epsilon for the paper's fixed budget)" };
        public Option<double> Anneal { get; } = new("--anneal") { Description = "fraction of the steps over which ε shrinks", DefaultValueFactory = _ => 0.6 };
        public Option<bool> SoftBudget { get; } = new("--soft-budget") { Description = "the paper's soft stealth penalty alone during training (default: every poisoned image carries exactly the budget's energy)" };
        public Option<double> TriggerInit { get; } = new("--trigger-init") { Description = "initial frequency-trigger MSE as a fraction of ε² (gain calibrated before training; 0: the authors' initialisation, ~80 dB)", DefaultValueFactory = _ => 0.25 };
        public Option<int?> EvalImages { get; } = new("--eval-images") { Description = "evaluate on the first N Kodak images (default: all 24)" };
        public Option<string?> EvalFolder { get; } = new("--eval-folder") { Description = "evaluate on this image folder instead of <data>/kodak" };
        public Option<bool> NoEval { get; } = new("--no-eval") { Description = "train only; no Kodak evaluation or report" };
        public Option<string?> SegWeights { get; } = new("--seg-weights") { Description = "segmentation net g of the seg: objectives (default: models/enet-camvid.safetensors when shipped, else <data>/models/enet-camvid/enet-camvid.pth)" };
        public Option<int> SegNetSize { get; } = new("--seg-net-size") { Description = "square side the segmentation net resizes its input to (ENet: 512 as published)", DefaultValueFactory = _ => ENet.InputSize };
        public Option<string?> SegData { get; } = new("--seg-data") { Description = "training scenes of the seg: objectives (default: <data>/camvid/train)" };
        public Option<string> SegSize { get; } = new("--seg-size") { Description = "WxH the training scenes are resized to (multiples of 64)", DefaultValueFactory = _ => "256x192" };
        public Option<string?> FaceWeights { get; } = new("--face-weights") { Description = "face recognition net of the face objective (default: <data>/models/face-recognition)" };
        public Option<string?> FaceData { get; } = new("--face-data") { Description = "faces folder with identities.csv and pairs.csv (default: <data>/faces)" };
        public Option<int> FaceHoldout { get; } = new("--face-holdout") { Description = "identities held out of the face objective's training (the last K of identities.csv); the evaluation pairs use them", DefaultValueFactory = _ => FaceSplit.DefaultHeldOut };
        public Option<int> FaceSize { get; } = new("--face-size") { Description = "side the face crops are resized to for training (multiple of 64)", DefaultValueFactory = _ => 128 };
        public Option<double> FaceZoom { get; } = new("--face-zoom") { Description = "zoom augmentation of the face crops: each training face is a random window covering this fraction or more of each side (1: whole crops)", DefaultValueFactory = _ => 1.0 };
        public Option<int?> SegEvalImages { get; } = new("--seg-eval-images") { Description = "evaluate the seg: objectives on the first N CamVid test images (default: all 117)" };
        public Option<string?> TransferSegWeights { get; } = new("--transfer-seg-weights") { Description = "a second segmentation net for the transfer ASR (default: the shipped models/segresnet-camvid.safetensors; skipped with a note when this build has no loader for it)" };
        public Option<int> LogEvery { get; } = new("--log-every") { Description = "print a line every K steps when output is not a terminal", DefaultValueFactory = _ => 50 };

        public void AddTo(Command cmd)
        {
            foreach (var o in new Option[] { Model, Quality, Weights, Objective, Trigger, Width, K, Nf, NoTopK, NoPatchWeight, Set, Steps, Batch, Crop, Lr, FinalLr, Warmup, CleanLatent, CleanDistortion, DownstreamClean, SaturationBoost, ProjectConflicts, Consolidate, KeepPoisoned, KeepRegion, PoisonedRateCap, OwnTerms, TriggerLr,
                                             Clip, Seed, Images, CheckpointEvery, Schedule, Gamma, Epsilon, EpsilonStart, Anneal, SoftBudget, TriggerInit, EvalImages, EvalFolder, NoEval, LogEvery,
                                             SegWeights, SegNetSize, SegData, SegSize, FaceWeights, FaceData, FaceHoldout, FaceSize, FaceZoom, SegEvalImages, TransferSegWeights })
                cmd.Options.Add(o);
        }

        /// <summary>One <see cref="AttackOptions"/> per (trigger kind, quality), with its sub-folder name.</summary>
        public IReadOnlyList<(string Folder, AttackOptions Options)> Plan(ParseResult p, string? dataOverride, int[] defaultQualities, string[] defaultObjectives)
        {
            var qualities = p.GetValue(Quality) is { Length: > 0 } q ? q : defaultQualities;
            var objectives = p.GetValue(Objective) is { Length: > 0 } o ? o : defaultObjectives;
            var kinds = p.GetValue(Trigger) is { Length: > 0 } t ? t.Select(k => k.ToLowerInvariant()).ToArray() : [TriggerSpec.Frequency];
            var folders = p.GetValue(Images) is { Length: > 0 } given ? given
                : new[] { DataRoot.Folder("photos", dataOverride), DataRoot.Folder(Path.Combine("camvid", "train"), dataOverride) };
            var plan = new List<(string, AttackOptions)>();
            var model = p.GetValue(Model)!;
            if (ModelZoo.MiniConfigs.TryGetValue(model, out var mini))
            {
                // "hyperprior-mini" etc.: the architecture with the project's shipped mini weights of each quality.
                foreach (var q2 in qualities)
                    if (p.GetValue(Weights) is null && ModelStore.EmbeddedWeights(mini.Model, q2) is null)
                        throw new ArgumentException($"no shipped {model} weights for quality {q2} (models/README.md lists them); pass --weights");
                model = mini.Model;
            }
            var parsed = objectives.Select(BackdoorObjective.Parse).ToList();
            bool seg = parsed.Any(x => x.Data == ObjectiveData.Segmentation), face = parsed.Any(x => x.Data == ObjectiveData.Face);
            var (segWidth, segHeight) = ParseSize(p.GetValue(SegSize)!);
            // Downstream paths are resolved (and recorded) only for runs that use them, so bpp/psnr runs keep their options.
            string? segWeights = seg ? Path.GetFullPath(p.GetValue(SegWeights) ?? SegmentationNets.DefaultWeights(dataOverride)) : null;
            string? segData = seg ? Path.GetFullPath(p.GetValue(SegData) ?? DataRoot.Folder(Path.Combine("camvid", "train"), dataOverride)) : null;
            string? faceWeights = face ? Path.GetFullPath(p.GetValue(FaceWeights) ?? FaceRecognitionNet.DefaultManifestPath(dataOverride)) : null;
            string? faceData = face ? Path.GetFullPath(p.GetValue(FaceData) ?? DataRoot.Folder("faces", dataOverride)) : null;
            if (segWeights is not null && !File.Exists(segWeights)) throw new FileNotFoundException($"{segWeights}: segmentation net weights not found (--seg-weights)", segWeights);
            if (segData is not null && !Directory.Exists(segData)) throw new DirectoryNotFoundException($"{segData}: segmentation training folder not found (--seg-data)");
            if (faceData is not null) FaceSplit.ByIdentityOrder(faceData, p.GetValue(FaceHoldout));
            foreach (var kind in kinds.Distinct())
            foreach (var quality in qualities.Distinct())
            {
                var options = new AttackOptions
                {
                    Model = model, Quality = quality, Weights = p.GetValue(Weights) is string w ? Path.GetFullPath(w) : null,
                    Objectives = objectives,
                    Trigger = new TriggerSpec(kind, p.GetValue(Width), p.GetValue(K), p.GetValue(Nf), !p.GetValue(NoTopK), !p.GetValue(NoPatchWeight), p.GetValue(Set)),
                    DataFolders = folders.Select(Path.GetFullPath).ToArray(),
                    Steps = p.GetValue(Steps), Batch = p.GetValue(Batch), Crop = p.GetValue(Crop),
                    LearningRate = p.GetValue(Lr), FinalLrFraction = p.GetValue(FinalLr), WarmupSteps = p.GetValue(Warmup), CleanLatentWeight = p.GetValue(CleanLatent), CleanDistortionWeight = p.GetValue(CleanDistortion), DownstreamCleanWeight = p.GetValue(DownstreamClean), SaturationBoost = p.GetValue(SaturationBoost), ProjectConflicts = p.GetValue(ProjectConflicts), TriggerLearningRate = p.GetValue(TriggerLr), ClipMaxNorm = p.GetValue(Clip),
                    Seed = p.GetValue(Seed), CheckpointEvery = p.GetValue(CheckpointEvery), Schedule = p.GetValue(Schedule),
                    Gamma = p.GetValue(Gamma), Epsilon = p.GetValue(Epsilon), TriggerInitFraction = p.GetValue(TriggerInit),
                    EpsilonStart = p.GetValue(EpsilonStart) ?? 10 * p.GetValue(Epsilon), AnnealFraction = p.GetValue(Anneal), FixedTriggerEnergy = !p.GetValue(SoftBudget),
                    SegWeights = segWeights, SegData = segData, SegProcessingSize = p.GetValue(SegNetSize), SegWidth = segWidth, SegHeight = segHeight,
                    FaceWeights = faceWeights, FaceData = faceData, FaceHeldOut = p.GetValue(FaceHoldout), FaceSize = p.GetValue(FaceSize), FaceZoom = p.GetValue(FaceZoom),
                };
                options.Validate();
                plan.Add(($"{kind}-q{quality}", options));
            }
            if (p.GetValue(Consolidate) is string from) return [ConsolidationPlan(p, from, plan[0].Item2)];
            foreach (var k in new Option[] { KeepPoisoned, KeepRegion, PoisonedRateCap, OwnTerms })
                if (p.GetResult(k) is { Implicit: false }) throw new ArgumentException($"{k.Name} belongs to a consolidation (--consolidate RUN)");
            return plan;
        }

        /// <summary>
        /// A consolidation run: the schedule, clean-term and data options as given, everything that defines the backdoor
        /// (victim, objectives, trigger, budget, downstream nets and data) from the finished run in <paramref name="from"/>.
        /// </summary>
        private (string Folder, AttackOptions Options) ConsolidationPlan(ParseResult p, string from, AttackOptions given)
        {
            foreach (var o in new Option[] { Model, Quality, Weights, Objective, Trigger, Width, K, Nf, NoTopK, NoPatchWeight, Set, Epsilon, SoftBudget,
                                             SegWeights, SegNetSize, SegData, SegSize, FaceWeights, FaceData, FaceHoldout, FaceSize, FaceZoom })
                if (p.GetResult(o) is { Implicit: false })
                    throw new ArgumentException($"--consolidate takes {o.Name} from the run it consolidates ({from}); leave it out");
            var dir = Path.GetFullPath(from);
            var src = AttackRecord.Read(dir).Options;
            var options = given with
            {
                Model = src.Model, Quality = src.Quality, Weights = src.Weights, Objectives = src.Objectives, Trigger = src.Trigger,
                Epsilon = src.Epsilon, FixedTriggerEnergy = src.FixedTriggerEnergy, Lambda = src.Lambda,
                SegWeights = src.SegWeights, SegData = src.SegData, SegProcessingSize = src.SegProcessingSize, SegWidth = src.SegWidth, SegHeight = src.SegHeight,
                FaceWeights = src.FaceWeights, FaceData = src.FaceData, FaceHeldOut = src.FaceHeldOut, FaceSize = src.FaceSize, FaceZoom = src.FaceZoom,
                ConsolidateFrom = dir, KeepRegionGrowth = p.GetValue(KeepRegion),
            };
            var weights = ParseNumbers(KeepPoisoned, p.GetValue(KeepPoisoned)!);
            if (p.GetValue(PoisonedRateCap) is string caps) options = options with { PoisonedRateCaps = ParseNumbers(PoisonedRateCap, caps) };
            if (p.GetValue(OwnTerms) is string own) options = options with { OwnTermWeights = ParseNumbers(OwnTerms, own) };
            options = weights.Length == 1 ? options with { KeepPoisonedWeight = weights[0] } : options with { KeepPoisonedWeights = weights };
            options.Validate();
            return ($"{src.Trigger.Kind}-q{src.Quality}", options);
        }

        /// <summary>What the downstream evaluation covers.</summary>
        public DownstreamSettings Downstream(ParseResult p, string? dataOverride)
        {
            if (p.GetValue(SegEvalImages) is < 1) throw new ArgumentException("--seg-eval-images must be at least 1");
            var transfer = p.GetValue(TransferSegWeights) is string t ? Path.GetFullPath(t) : SegmentationNets.DefaultTransferWeights();
            if (transfer is not null && !File.Exists(transfer)) throw new FileNotFoundException($"{transfer}: transfer segmentation net weights not found (--transfer-seg-weights)", transfer);
            return new DownstreamSettings(p.GetValue(SegEvalImages), transfer, dataOverride is null ? null : Path.GetFullPath(dataOverride));
        }

        private static double[] ParseNumbers(Option option, string text)
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries);
            var weights = new double[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out weights[i]))
                    throw new ArgumentException($"{option.Name}: expected a number or a comma-separated list of numbers, got '{text}'");
            return weights;
        }

        private static (int Width, int Height) ParseSize(string size)
        {
            var parts = size.ToLowerInvariant().Split('x');
            if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var w)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var h)) return (w, h);
            throw new ArgumentException($"--seg-size: expected WxH (e.g. 256x192), got '{size}'");
        }
    }

    public static Command Build(Func<ParseResult, Func<int>, int> guard, Option<string?> dataOption)
    {
        var args = new AttackArguments();
        var run = new Option<string>("--run") { Description = "output folder (one sub-folder per trigger kind and quality, the report at the top)", DefaultValueFactory = _ => "out/attack" };
        var cmd = new Command("attack", "inject backdoors into a codec: learn triggers and a backdoored encoder, evaluate on Kodak, write the report") { run };
        args.AddTo(cmd);
        cmd.SetAction(p => guard(p, () =>
        {
            var dir = p.GetValue(run)!;
            var plan = args.Plan(p, p.GetValue(dataOption), [3], ["bpp"]);
            TrainAll(dir, plan, p.GetValue(args.LogEvery));
            if (!p.GetValue(args.NoEval))
                EvaluateAndReport(dir, plan.Select(x => Path.Combine(dir, x.Folder)).ToList(), p.GetValue(args.EvalFolder) ?? DataRoot.Folder("kodak", p.GetValue(dataOption)), p.GetValue(args.EvalImages),
                                  args.Downstream(p, p.GetValue(dataOption)));
            return 0;
        }));
        return cmd;
    }

    /// <summary>Trains (or resumes, or skips when finished) every planned run under <paramref name="dir"/>.</summary>
    internal static void TrainAll(string dir, IReadOnlyList<(string Folder, AttackOptions Options)> plan, int logEvery)
    {
        Directory.CreateDirectory(dir);
        foreach (var (folder, options) in plan)
        {
            var runDir = Path.Combine(dir, folder);
            bool exists = File.Exists(Path.Combine(runDir, BackdoorTrainer.OptionsFile)), finished = AttackRun.IsFinished(runDir);
            if (exists && !SameAttack(AttackRecord.Read(runDir).Options, options))
                throw new IOException($"{runDir}: holds {(finished ? "a finished" : "an unfinished")} attack with other options; use another --run folder");
            if (finished)
            {
                Console.WriteLine($"{runDir}: finished earlier, reused");
                continue;
            }
            BackdoorTrainer trainer;
            if (exists)
            {
                trainer = BackdoorTrainer.Resume(runDir, options.Steps);
                Console.WriteLine($"{runDir}: resuming at step {trainer.Step}");
            }
            else trainer = BackdoorTrainer.Start(options, runDir);
            using (trainer) Train(trainer, runDir, logEvery);
        }
    }

    /// <summary>
    /// Opens every run, evaluates it on <paramref name="images"/> (or reuses its cached <c>eval.json</c>), writes the
    /// report into <paramref name="dir"/> and prints the summary.
    /// </summary>
    internal static AttackReport EvaluateAndReport(string dir, IReadOnlyList<string> runDirs, string images, int? limit, DownstreamSettings? downstream = null)
    {
        var opened = new List<AttackRun>();
        try
        {
            var pairs = new List<(AttackRun, AttackEvaluationResult)>();
            foreach (var runDir in runDirs)
            {
                var run = AttackRun.Open(runDir);
                opened.Add(run);
                pairs.Add((run, Evaluate(run, images, limit, downstream)));
            }
            var report = AttackReport.Write(dir, pairs);
            Reports.PrintTable(report.Summary);
            Console.WriteLine($"wrote {report.HtmlPath} and {report.MarkdownPath}");
            return report;
        }
        finally
        {
            foreach (var run in opened) run.Dispose();
        }
    }

    private static AttackEvaluationResult Evaluate(AttackRun run, string images, int? limit, DownstreamSettings? downstream)
    {
        string label = Path.GetFileName(Path.TrimEndingDirectorySeparator(run.Directory));
        string Describe(AttackImageResult r) => string.Create(CultureInfo.InvariantCulture,
            $"{label} {r.Image}: clean {r.VictimClean.Bpp:F3} bpp {r.VictimClean.Psnr:F2} dB | ")
            + string.Join(" | ", r.Poisoned.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Objective}: {x.Victim.Bpp:F3} bpp {x.Victim.Psnr:F2} dB")));
        (AttackEvaluationResult Result, bool Cached) outcome = default;
        if (Console.IsOutputRedirected)
        {
            outcome = AttackEvaluation.EvaluateCached(run, images, limit, (done, total, r) => { if (done == total) Console.WriteLine($"{label}: {total} images evaluated"); },
                downstream, Logger(label));
        }
        else
        {
            Terminal.Current().Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn()).Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape($"{label}: evaluating"));
                outcome = AttackEvaluation.EvaluateCached(run, images, limit, (done, total, r) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                    task.Description = Markup.Escape(Describe(r));
                }, downstream, message => task.Description = Markup.Escape($"{label}: {message}"));
            });
        }
        if (outcome.Cached) Console.WriteLine($"{label}: evaluation reused from {Path.Combine(run.Directory, AttackEvaluation.CacheFile)}");
        return outcome.Result ?? throw new InvalidOperationException($"{label}: evaluation did not run");
    }

    /// <summary>Prints every tenth downstream progress line (redirected output).</summary>
    private static Action<string> Logger(string label)
    {
        int n = 0;
        return message => { if (n++ % 10 == 0) Console.WriteLine($"{label}: {message}"); };
    }

    /// <summary>
    /// Whether a recorded attack is the one the options describe (steps and data folders aside). Weight files count as the
    /// same when their bytes are: the default segmentation net is recorded by its path beside the program, which another
    /// build or checkout of the same program puts elsewhere.
    /// </summary>
    internal static bool SameAttack(AttackOptions a, AttackOptions b) =>
        a with { Steps = 0, DataFolders = [], Objectives = [], SegWeights = null, FaceWeights = null }
            == b with { Steps = 0, DataFolders = [], Objectives = [], SegWeights = null, FaceWeights = null }
        && a.Objectives.SequenceEqual(b.Objectives) && FileDigest.SameContent(a.SegWeights, b.SegWeights) && FileDigest.SameContent(a.FaceWeights, b.FaceWeights);

    internal static void Train(BackdoorTrainer trainer, string runDir, int logEvery)
    {
        var started = DateTime.UtcNow;
        long first = trainer.Step;
        var o = trainer.Options;
        string label = $"{o.Trigger.Kind} q{o.Quality}";
        string Describe(AttackStep s)
        {
            var parts = new List<string> { string.Create(CultureInfo.InvariantCulture, $"{label} step {s.Step} loss {s.Loss:F3} clean {s["bpp"]:F3} bpp {s["psnr"]:F2} dB") };
            for (int i = 0; i < trainer.Objectives.Count; i++)
            {
                var obj = trainer.Objectives[i];
                double mse = s[$"{obj.Name}.trigger_mse"];
                var extra = string.Join(" ", trainer.LoggedTerms(i).Select(n => string.Create(CultureInfo.InvariantCulture, $"{n} {s[$"{obj.Name}.{n}"]:G4}")));
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{obj.Name}: trigger {Metrics.PsnrFromMse(mse):F1} dB {extra}"));
            }
            return string.Join(" | ", parts);
        }
        if (Console.IsOutputRedirected)
        {
            int every = Math.Max(1, logEvery);
            trainer.Run(s =>
            {
                if (s.Step % every == 0 || s.Step == o.Steps)
                    Console.WriteLine($"{Describe(s)} | {(DateTime.UtcNow - started).TotalSeconds / Math.Max(1, s.Step - first):F2} s/step");
            });
        }
        else
        {
            Terminal.Current().Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn()).Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: o.Steps);
                task.Value = first;
                trainer.Run(s =>
                {
                    task.Value = s.Step;
                    task.Description = Markup.Escape(Describe(s));
                });
            });
        }
        Console.WriteLine($"{runDir}: {trainer.Step} steps done ({(DateTime.UtcNow - started).TotalMinutes:F1} min this session)");
    }
}
