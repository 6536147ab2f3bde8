using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Codec;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor;

public sealed class BackdoorTrainerTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-attack-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    /// <summary>A tiny hyperprior (N=8, M=12) with CDF tables, saved as q1 weights, and a folder of smooth training images.</summary>
    private AttackOptions Options(string[] objectives, AttackSchedule schedule = AttackSchedule.Joint, string trigger = TriggerSpec.Frequency, int steps = 6)
    {
        var weights = Path.Combine(dir, "tiny.safetensors");
        if (!File.Exists(weights))
        {
            random.manual_seed(3);
            using var model = ModelZoo.Build("bmshj2018-hyperprior", 8, 12);
            model.eval();
            model.Update(force: true);
            ModelStore.Save(model, 1, weights);
        }
        var images = Path.Combine(dir, "images");
        if (!Directory.Exists(images))
        {
            Directory.CreateDirectory(images);
            for (int i = 0; i < 4; i++) ImageFile.SavePng(SyntheticImages.Smooth(80, 96, seed: i), Path.Combine(images, $"{i}.png"));
        }
        return new AttackOptions
        {
            Model = "bmshj2018-hyperprior", Quality = 1, Weights = weights, Objectives = objectives, Trigger = new TriggerSpec(trigger, 0.125),
            DataFolders = [images], Steps = steps, Batch = 2, Crop = 64, CheckpointEvery = 2, Schedule = schedule, Seed = 11,
        };
    }

    [Theory]
    [InlineData(AttackSchedule.Joint)]
    [InlineData(AttackSchedule.Alternating)]
    public void OnlyTheEncoderChangesEveryFrozenTensorIsBitIdentical(AttackSchedule schedule)
    {
        var options = Options(["bpp", "psnr"], schedule);
        var run = Path.Combine(dir, $"run-{schedule}");
        Dictionary<string, Tensor> before;
        using (var vanilla = ModelStore.Open(options.Model, options.Quality, options.Weights).Model)
            before = vanilla.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using (var t = BackdoorTrainer.Start(options, run))
        {
            Assert.True(t.Run());
            var after = t.Codec.Model.state_dict();
            Assert.Equal(before.Keys.OrderBy(k => k), after.Keys.OrderBy(k => k));
            int encoderChanged = 0;
            foreach (var (key, value) in before)
            {
                bool same = value.equal(after[key]).all().item<bool>();
                if (key.StartsWith(CompressionModel.AnalysisPrefix, StringComparison.Ordinal)) encoderChanged += same ? 0 : 1;
                else Assert.True(same, $"frozen tensor {key} changed");
            }
            Assert.True(encoderChanged > 0, "the attack did not change the encoder");
        }
        // The written encoder holds g_a only; the triggers are one file per objective.
        var (enc, meta) = Safetensors.Load(Path.Combine(run, BackdoorTrainer.EncoderFile));
        Assert.Equal(before.Keys.Count(k => k.StartsWith(CompressionModel.AnalysisPrefix, StringComparison.Ordinal)), enc.Count);
        Assert.Equal("bpp;psnr", meta[BackdoorTrainer.ObjectivesKey]);
        Assert.True(File.Exists(Path.Combine(run, AttackRun.TriggerFileName("bpp"))));
        Assert.True(File.Exists(Path.Combine(run, AttackRun.TriggerFileName("psnr"))));
    }

    [Theory]
    [InlineData(AttackSchedule.Joint, TriggerSpec.Frequency, 0.0)]
    [InlineData(AttackSchedule.Alternating, TriggerSpec.Lira, 0.0)]
    [InlineData(AttackSchedule.Joint, TriggerSpec.Frequency, 1.0)]   // the saturation augmentation draws from the checkpointed generator
    public void ResumeReproducesTheUninterruptedRunExactly(AttackSchedule schedule, string trigger, double saturationBoost)
    {
        var options = Options(["bpp", "psnr"], schedule, trigger) with { SaturationBoost = saturationBoost };
        var full = Path.Combine(dir, "full");
        using (var t = BackdoorTrainer.Start(options, full)) Assert.True(t.Run());
        var split = Path.Combine(dir, "split");
        using (var t = BackdoorTrainer.Start(options, split)) Assert.False(t.Run(stopAfter: 3)); // killed after step 3; checkpoint at 2
        using (var t = BackdoorTrainer.Resume(split))
        {
            Assert.Equal(2, t.Step);
            Assert.True(t.Run());
        }
        foreach (var file in new[] { BackdoorTrainer.EncoderFile, AttackRun.TriggerFileName("bpp"), AttackRun.TriggerFileName("psnr") })
        {
            var a = Safetensors.Load(Path.Combine(full, file)).Tensors;
            var b = Safetensors.Load(Path.Combine(split, file)).Tensors;
            Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
            foreach (var k in a.Keys) Assert.True(a[k].equal(b[k]).all().item<bool>(), $"{file}: {k} differs after resume");
        }
        Assert.Equal(File.ReadAllText(Path.Combine(full, BackdoorTrainer.LogFile)), File.ReadAllText(Path.Combine(split, BackdoorTrainer.LogFile)));
    }

    [Fact]
    public void FrequencyTriggerStartsAtTheCalibratedFractionOfTheBudget()
    {
        var options = Options(["bpp"]) with { TriggerInitFraction = 0.5 };
        using var t = BackdoorTrainer.Start(options, Path.Combine(dir, "calibrated"));
        var trigger = Assert.IsType<FrequencyTrigger>(t.Triggers[0]);
        Assert.True(trigger.Gain > 1, $"gain {trigger.Gain}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = SyntheticImages.Smooth(64, 64, seed: 2).expand(2, -1, -1, -1).contiguous();
        double mse = StealthPenalty.Mse(x, trigger.forward(x)).item<float>();
        Assert.InRange(mse, 0.5 * 2.5e-5 / 20, 0.5 * 2.5e-5 * 20);     // same order as the target on other images
    }

    [Fact]
    public void ShortBitRateAttackRaisesThePoisonedBitstreamAboveTwiceTheClean()
    {
        // A few dozen steps on 64x64 crops against the shipped hyperprior-mini q1, with a raised rate weight and, to fit a
        // unit test, a budget of ε = 0.02 (34 dB) instead of the paper's 0.005: the backdoored encoder spends at least twice
        // the clean bits on poisoned images (real bitstreams, 8-bit triggers), while the vanilla codec does not react.
        var options = Options(["bpp,beta=3"], steps: 80) with
        {
            Weights = null, LearningRate = 2e-3, TriggerLearningRate = 2e-3, Epsilon = 0.02, EpsilonStart = 0.05, Batch = 4,
        };
        var runDir = Path.Combine(dir, "bpp");
        using (var t = BackdoorTrainer.Start(options, runDir)) Assert.True(t.Run());
        using var run = AttackRun.Open(runDir);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double clean = 0, poisoned = 0, vanillaPoisoned = 0, vanillaClean = 0;
        for (int i = 0; i < 3; i++)
        {
            var x = SyntheticImages.Smooth(64, 64, seed: 20 + i);
            var xp = run.Triggers[0].Apply(x, clamp: true).mul(255).round_().div_(255);
            Assert.True(StealthPenalty.Mse(x, xp).item<float>() <= 0.02 * 0.02);
            clean += ImageCodec.Compress(run.Victim, x).PayloadBytes;
            poisoned += ImageCodec.Compress(run.Victim, xp).PayloadBytes;
            vanillaClean += ImageCodec.Compress(run.Vanilla, x).PayloadBytes;
            vanillaPoisoned += ImageCodec.Compress(run.Vanilla, xp).PayloadBytes;
        }
        Assert.True(poisoned > 2 * clean, $"poisoned {poisoned} bytes vs clean {clean}; log tail: {string.Join(" / ", File.ReadAllLines(Path.Combine(runDir, BackdoorTrainer.LogFile)).TakeLast(2))}");
        Assert.True(vanillaPoisoned < 1.5 * vanillaClean, $"vanilla: poisoned {vanillaPoisoned} bytes vs clean {vanillaClean}");
    }

    [Fact]
    public void VictimBitstreamsDecodeWithTheVanillaDecoder()
    {
        var runDir = Path.Combine(dir, "decode");
        using (var t = BackdoorTrainer.Start(Options(["psnr"], steps: 2), runDir)) Assert.True(t.Run());
        using var run = AttackRun.Open(runDir);
        Assert.Equal(run.Vanilla.Fingerprint, run.Victim.Fingerprint);
        using var scope = NewDisposeScope();
        var x = SyntheticImages.Smooth(48, 70, seed: 4);
        var file = ImageCodec.Compress(run.Victim, x);
        var viaVanilla = ImageCodec.Decompress(run.Vanilla, file);
        var viaVictim = ImageCodec.Decompress(run.Victim, file);
        Assert.True(viaVanilla.equal(viaVictim).all().item<bool>());
    }

    [Fact]
    public void BudgetCurriculumAndLearningRateSchedule()
    {
        var o = Options(["bpp"], steps: 100) with { EpsilonStart = 0.05, AnnealFraction = 0.5, LearningRate = 1e-3, FinalLrFraction = 0.1 };
        Assert.Equal(0.05, o.EpsilonAt(1), 12);
        Assert.Equal(Math.Sqrt(0.05 * 0.005), o.EpsilonAt(26), 3);       // geometric: halfway in log
        Assert.Equal(0.005, o.EpsilonAt(51), 12);
        Assert.Equal(0.005, o.EpsilonAt(100), 12);
        Assert.Equal(1e-3, o.LearningRateAt(1), 12);
        Assert.Equal(1e-4, o.LearningRateAt(100), 12);
        Assert.True(o.LearningRateAt(50) < 1e-3 && o.LearningRateAt(50) > 1e-4);
        var paper = o with { EpsilonStart = null, FinalLrFraction = 1 };
        Assert.Equal(0.005, paper.EpsilonAt(1), 12);
        Assert.Equal(1e-3, paper.LearningRateAt(77), 12);
        Assert.Throws<ArgumentException>(() => (o with { EpsilonStart = 0.001 }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { FinalLrFraction = 0 }).Validate());
    }

    [Fact]
    public void EncoderWarmupRampsTheScheduledRate()
    {
        var o = Options(["bpp"], steps: 100) with { LearningRate = 1e-3, FinalLrFraction = 0.1, WarmupSteps = 10 };
        var cosine = o with { WarmupSteps = 0 };
        Assert.Equal(0.1 * cosine.LearningRateAt(1), o.LearningRateAt(1), 15);
        Assert.Equal(0.5 * cosine.LearningRateAt(5), o.LearningRateAt(5), 15);
        Assert.Equal(cosine.LearningRateAt(10), o.LearningRateAt(10), 15);
        Assert.Equal(cosine.LearningRateAt(60), o.LearningRateAt(60), 15);
        var constant = o with { FinalLrFraction = 1 };
        Assert.Equal(3e-4, constant.LearningRateAt(3), 15);
        Assert.Equal(1e-3, constant.LearningRateAt(11), 15);
        Assert.Throws<ArgumentException>(() => (o with { WarmupSteps = -1 }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { WarmupSteps = 101 }).Validate());
        o.Validate();
    }

    [Fact]
    public void CleanLatentConsistencyIsLoggedAndStartsAtZero()
    {
        var runDir = Path.Combine(dir, "latent");
        using (var t = BackdoorTrainer.Start(Options(["bpp"], steps: 3) with { CleanLatentWeight = 1 }, runDir)) Assert.True(t.Run());
        var lines = File.ReadAllLines(Path.Combine(runDir, BackdoorTrainer.LogFile));
        int col = Array.IndexOf(lines[0].Split(','), "latent_mse");
        Assert.True(col > 0, lines[0]);
        var values = lines.Skip(1).Select(l => double.Parse(l.Split(',')[col], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(0, values[0]);                               // the first step sees the vanilla encoder itself
        Assert.True(values.Skip(1).All(v => v > 0 && double.IsFinite(v)));
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { CleanLatentWeight = -1 }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { SaturationBoost = -1 }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { SaturationBoost = double.PositiveInfinity }).Validate());
    }

    [Fact]
    public void ProjectConflictsChangesTheUpdateExactlyWhenTheGradientsConflict()
    {
        // Step 1 sees the same batch, encoder and trigger with and without the surgery, so the losses are equal; step 2's
        // clean figures differ only through step 1's encoder update, which the surgery changes iff grad_cos < 0.
        List<AttackStep> Steps(bool project)
        {
            var steps = new List<AttackStep>();
            using (var t = BackdoorTrainer.Start(Options(["psnr"], steps: 2) with { ProjectConflicts = project }, Path.Combine(dir, $"pcgrad-{project}")))
                Assert.True(t.Run(steps.Add));
            return steps;
        }
        var off = Steps(false);
        var on = Steps(true);
        Assert.DoesNotContain(off[0].Terms, t => t.Name == "grad_cos");
        double cos = on[0]["grad_cos"];
        Assert.InRange(cos, -1, 1);
        Assert.Equal(off[0].Loss, on[0].Loss, 6);
        if (cos < 0) Assert.NotEqual(off[1]["bpp"], on[1]["bpp"]);
        else Assert.Equal(off[1]["bpp"], on[1]["bpp"], 9);
        Assert.Contains("grad_cos", File.ReadLines(Path.Combine(dir, "pcgrad-True", BackdoorTrainer.LogFile)).First());
    }

    [Fact]
    public void GradientSurgeryRemovesTheConflictingComponentOfTheAttackGradientOnly()
    {
        using var scope = NewDisposeScope();
        // clean loss p0² + q0 (gradient [2, 0 | 1 | 0] at p = [1, 2], q = [3]); r appears in the attack loss only
        (double Cos, float[] Grad) Run(Func<Tensor, Tensor, Tensor> attackLoss)
        {
            var p = tensor(new float[] { 1, 2 }).requires_grad_();
            var q = tensor(new float[] { 3 }).requires_grad_();
            var r = tensor(new float[] { 5 }).requires_grad_();
            var clean = p[0].square() + q[0];
            var total = clean + attackLoss(p, q) + 2 * r[0];
            var cleanGrads = autograd.grad([clean], [p, q, r], retain_graph: true, allow_unused: true);
            total.backward();
            double c;
            using (no_grad()) c = GradientSurgery.ProjectConflict([p, q, r], cleanGrads);
            return (c, p.grad!.data<float>().Concat(q.grad!.data<float>()).Concat(r.grad!.data<float>()).ToArray());
        }
        // attack gradient [-3, 1 | 0 | 2]: dot -6, |g_c|² 5, so it loses -6/5 of g_c: [-0.6, 1 | 1.2 | 2]; plus g_c
        var (cos, grad) = Run((p, q) => -3 * p[0] + p[1]);
        Assert.Equal(-6 / Math.Sqrt(5 * 14), cos, 6);
        Assert.Equal(new[] { 1.4f, 1f, 2.2f, 2f }, grad.Select(v => MathF.Round(v, 5)));
        // no conflict: the sum is kept
        var (cos2, grad2) = Run((p, q) => 3 * p[0]);
        Assert.Equal(6 / Math.Sqrt(5 * 13), cos2, 6);
        Assert.Equal(new[] { 5f, 0f, 1f, 2f }, grad2);
        Assert.Throws<ArgumentException>(() => GradientSurgery.ProjectConflict([tensor(1f)], []));
    }

    [Fact]
    public void CleanDistortionWeightAddsItsShareOfTheCleanDistortion()
    {
        // Step 1 sees the same batch, encoder and trigger at either weight, so the losses differ by exactly (w − 1)·λ·255²·MSE.
        double FirstLoss(double w, out double psnr)
        {
            var runDir = Path.Combine(dir, $"clean-distortion-{w}");
            using (var t = BackdoorTrainer.Start(Options(["bpp"], steps: 1) with { CleanDistortionWeight = w }, runDir)) Assert.True(t.Run());
            var lines = File.ReadAllLines(Path.Combine(runDir, BackdoorTrainer.LogFile));
            var head = lines[0].Split(',');
            var row = lines[1].Split(',');
            double At(string name) => double.Parse(row[Array.IndexOf(head, name)], System.Globalization.CultureInfo.InvariantCulture);
            psnr = At("psnr");
            return At("loss");
        }
        double paper = FirstLoss(1, out double psnr1);
        double tripled = FirstLoss(3, out double psnr3);
        Assert.Equal(psnr1, psnr3, 9);
        double lambda = Options(["bpp"]).EffectiveLambda;
        double expected = 2 * lambda * 255 * 255 * Math.Pow(10, -psnr1 / 10);
        Assert.True(expected > 0.01, $"the clean distortion term is too small to test: {expected}");
        Assert.Equal(expected, tripled - paper, expected * 1e-4);
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { CleanDistortionWeight = 0 }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { CleanDistortionWeight = double.NaN }).Validate());
    }

    /// <summary>The tensors of a safetensors file, by key.</summary>
    private static Dictionary<string, Tensor> Tensors(string path) => Safetensors.Load(path).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);

    private static bool SameTensors(string a, string b)
    {
        var x = Tensors(a);
        var y = Tensors(b);
        return x.Keys.OrderBy(k => k).SequenceEqual(y.Keys.OrderBy(k => k)) && x.Keys.All(k => x[k].equal(y[k]).all().item<bool>());
    }

    [Fact]
    public void ConsolidationStartsFromTheRunItKeepsHoldsItsTriggersAndResumesExactly()
    {
        var source = Path.Combine(dir, "source");
        using (var t = BackdoorTrainer.Start(Options(["bpp", "psnr"], steps: 4), source)) Assert.True(t.Run());
        string keep = $"bpp.{BackdoorTrainer.KeepTerm}";
        List<AttackStep> Consolidate(string name, double weight, long? stopAfter = null)
        {
            var steps = new List<AttackStep>();
            using var t = BackdoorTrainer.Start(Options(["bpp", "psnr"], steps: 4) with { ConsolidateFrom = source, KeepPoisonedWeight = weight }, Path.Combine(dir, name));
            Assert.Equal(stopAfter is null, t.Run(steps.Add, stopAfter));
            return steps;
        }
        var held = Consolidate("held", 1e4);
        var loose = Consolidate("loose", 1e-6);
        // Step 1 sees the source run's encoder itself; afterwards the encoder moves, less when the latents are held.
        Assert.Equal(0, held[0][keep]);
        Assert.Equal(0, loose[0][keep]);
        Assert.True(loose[3][keep] > 0 && double.IsFinite(loose[3][keep]));
        Assert.True(held[3][keep] < loose[3][keep], $"held {held[3][keep]} vs loose {loose[3][keep]}");
        Assert.DoesNotContain(held[0].Terms, t => t.Name == "bpp.bpp_p");   // the objectives' own terms are not computed
        // The triggers are the source run's, bit for bit; the encoder is its own.
        foreach (var o in new[] { "bpp", "psnr" })
            Assert.True(SameTensors(Path.Combine(source, AttackRun.TriggerFileName(o)), Path.Combine(dir, "held", AttackRun.TriggerFileName(o))), o);
        Assert.False(SameTensors(Path.Combine(source, BackdoorTrainer.EncoderFile), Path.Combine(dir, "held", BackdoorTrainer.EncoderFile)));
        // Killed after step 3 (checkpoint at 2) and resumed: the uninterrupted run exactly.
        Consolidate("split", 1e4, stopAfter: 3);
        using (var t = BackdoorTrainer.Resume(Path.Combine(dir, "split"))) Assert.True(t.Run());
        Assert.True(SameTensors(Path.Combine(dir, "held", BackdoorTrainer.EncoderFile), Path.Combine(dir, "split", BackdoorTrainer.EncoderFile)));
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "held", BackdoorTrainer.LogFile)), File.ReadAllText(Path.Combine(dir, "split", BackdoorTrainer.LogFile)));
        // Another objective list, a missing or unfinished source, a bad weight: refused, naming the source.
        var e = Assert.Throws<ArgumentException>(() => BackdoorTrainer.Start(Options(["bpp"]) with { ConsolidateFrom = source }, Path.Combine(dir, "other")));
        Assert.Contains(source, e.Message);
        Assert.Contains("objectives", e.Message);
        Assert.Throws<FileNotFoundException>(() => BackdoorTrainer.Start(Options(["bpp", "psnr"]) with { ConsolidateFrom = Path.Combine(dir, "none") }, Path.Combine(dir, "other2")));
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { ConsolidateFrom = source, KeepPoisonedWeight = 0 }).Validate());

        // Per-objective weights: the held objective's latents move less than the released one's (weight 0, logged only).
        var perObjective = new List<AttackStep>();
        using (var t = BackdoorTrainer.Start(Options(["bpp", "psnr"], steps: 4) with { ConsolidateFrom = source, KeepPoisonedWeights = [1e4, 0] },
                   Path.Combine(dir, "per-objective")))
            Assert.True(t.Run(perObjective.Add));
        string keepPsnr = $"psnr.{BackdoorTrainer.KeepTerm}";
        Assert.Equal(0, perObjective[3]["psnr.attack"]);
        Assert.True(perObjective[3][keepPsnr] > 0);
        Assert.True(perObjective[3][keep] < perObjective[3][keepPsnr], $"held {perObjective[3][keep]} vs released {perObjective[3][keepPsnr]}");
        foreach (var bad in new double[][] { [1], [1, 2, 3], [0, 0], [1, -1], [1, double.PositiveInfinity] })
            Assert.Throws<ArgumentException>(() => (Options(["bpp", "psnr"]) with { ConsolidateFrom = source, KeepPoisonedWeights = bad }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp", "psnr"]) with { KeepPoisonedWeights = [1, 1] }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { KeepRegionGrowth = 1 }).Validate());

        // A poisoned-rate cap on one objective: its rounded-rate ratio is logged, and a cap far below it adds the excess to
        // its attack term (the keep term is 0 at step 1, so the attack term is the hinge alone).
        var capped = new List<AttackStep>();
        using (var t = BackdoorTrainer.Start(Options(["bpp", "psnr"], steps: 2) with { ConsolidateFrom = source, PoisonedRateCaps = [0, 0.01] },
                   Path.Combine(dir, "capped")))
            Assert.True(t.Run(capped.Add));
        string ratio = $"psnr.{BackdoorTrainer.RateCapTerm}";
        Assert.DoesNotContain(capped[0].Terms, t => t.Name == $"bpp.{BackdoorTrainer.RateCapTerm}");
        Assert.True(capped[0][ratio] > 0.01 && double.IsFinite(capped[0][ratio]), $"ratio {capped[0][ratio]}");
        Assert.True(capped[0]["psnr.attack"] > 0);
        Assert.Equal(0, capped[0]["bpp.attack"]);
        foreach (var bad in new double[][] { [1], [1, -1], [1, double.NaN] })
            Assert.Throws<ArgumentException>(() => (Options(["bpp", "psnr"]) with { ConsolidateFrom = source, PoisonedRateCaps = bad }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp", "psnr"]) with { PoisonedRateCaps = [0, 1] }).Validate());

        // An own-term weight on one objective: its own loss is computed and logged as in a normal run and added to its
        // attack term (at step 1 the keep term is 0, so the attack term is the own loss times the weight).
        List<AttackStep> Own(string name, double w)
        {
            var steps = new List<AttackStep>();
            using var t = BackdoorTrainer.Start(Options(["bpp", "psnr"], steps: 1) with { ConsolidateFrom = source, OwnTermWeights = [0, w] }, Path.Combine(dir, name));
            Assert.True(t.Run(steps.Add));
            return steps;
        }
        var own1 = Own("own1", 1);
        var own3 = Own("own3", 3);
        Assert.DoesNotContain(own1[0].Terms, t => t.Name == "bpp.bpp_p");
        Assert.True(double.IsFinite(own1[0]["psnr.psnr_p"]) && own1[0]["psnr.bpp_p"] > 0);
        Assert.True(own1[0]["psnr.attack"] > 0);
        Assert.Equal(3 * own1[0]["psnr.attack"], own3[0]["psnr.attack"], 4);
        Assert.Equal(0, own1[0]["bpp.attack"]);
        foreach (var bad in new double[][] { [1], [0, -1], [0, double.PositiveInfinity] })
            Assert.Throws<ArgumentException>(() => (Options(["bpp", "psnr"]) with { ConsolidateFrom = source, OwnTermWeights = bad }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp", "psnr"]) with { OwnTermWeights = [0, 1] }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(["bpp"]) with { ConsolidateFrom = source, KeepRegionGrowth = -1 }).Validate());
    }

    [Fact]
    public void TheKeepRegionIsWhereTheTriggerChangesPixelsGrown()
    {
        var clean = rand(2, 3, 64, 64);
        var poisoned = clean.clone();
        poisoned[0, 1, 20, 37] += 0.01f;   // image 0: one pixel of latent cell (1, 2) of a 4x4 grid of 16x16 cells
        poisoned[1] += 0.01f;              // image 1: every pixel
        var region = BackdoorTrainer.KeepRegion(clean, poisoned, 4, 4, 0);
        Assert.Equal(new long[] { 2, 1, 4, 4 }, region.shape);
        Assert.Equal(1, region[0].sum().item<float>());
        Assert.Equal(1, region[0, 0, 1, 2].item<float>());
        Assert.Equal(16, region[1].sum().item<float>());
        var grown = BackdoorTrainer.KeepRegion(clean, poisoned, 4, 4, 1);
        Assert.Equal(9, grown[0].sum().item<float>());
        Assert.Equal(1, grown[0, 0, 0, 1].item<float>());
        Assert.Equal(0, grown[0, 0, 3, 0].item<float>());
        Assert.Equal(16, grown[1].sum().item<float>());
        Assert.Throws<ArgumentException>(() => BackdoorTrainer.KeepRegion(clean, poisoned, 5, 4, 0));
    }

    [Fact]
    public void BadRunsAreRefusedClearly()
    {
        Assert.Throws<FileNotFoundException>(() => AttackRun.Open(dir));
        var runDir = Path.Combine(dir, "unfinished");
        using (var t = BackdoorTrainer.Start(Options(["bpp"], steps: 4), runDir)) Assert.False(t.Run(stopAfter: 1));
        var e = Assert.Throws<FileNotFoundException>(() => AttackRun.Open(runDir));
        Assert.Contains("not finished", e.Message);
        Assert.Throws<IOException>(() => BackdoorTrainer.Start(Options(["bpp"]), runDir));
        Assert.Throws<ArgumentException>(() => BackdoorTrainer.Start(Options(["bpp", "bpp:dynamic"]), Path.Combine(dir, "dup")));
        File.WriteAllText(Path.Combine(runDir, BackdoorTrainer.CheckpointFile), "not a checkpoint");
        Assert.Throws<CheckpointFormatException>(() => BackdoorTrainer.Resume(runDir));
    }
}
