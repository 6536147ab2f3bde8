using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Imaging;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor;

/// <summary>
/// A tiny data root for the downstream attacks: CamVid-like scenes (train, and test with label maps), face crops of
/// three identities with pairs, a randomly initialised ENet (processing size 16) and a tiny hyperprior. The face net is
/// the real one from the shared data (150x150, fast enough on batches of one).
/// </summary>
public sealed class TinyDownstreamData : IDisposable
{
    public TinyDownstreamData()
    {
        Runtime.NativeSetup.Initialize();
        Root = Directory.CreateTempSubdirectory("licb-downstream-").FullName;
        DataRoot = Path.Combine(Root, "data");
        var camvid = Path.Combine(DataRoot, "camvid");
        foreach (var sub in new[] { "train", "test", "testannot", "kodak" }) Directory.CreateDirectory(Path.Combine(camvid, sub));
        for (int i = 0; i < 3; i++) ImageFile.SavePng(SyntheticImages.Smooth(48, 64, seed: 20 + i), Path.Combine(camvid, "train", $"s{i}.png"));
        for (int i = 0; i < 3; i++)
        {
            ImageFile.SavePng(SyntheticImages.Smooth(48, 64, seed: 30 + i), Path.Combine(camvid, "test", $"t{i}.png"));
            var labels = full(48, 64, 3L, dtype: ScalarType.Int64);          // road
            labels[TensorIndex.Slice(20, 36), TensorIndex.Slice(10, 40)] = tensor(8L); // a car
            labels[TensorIndex.Slice(0, 8)] = tensor(11L);                  // void sky strip
            var grey = (labels.to_type(ScalarType.Float32) / 255).unsqueeze(0).unsqueeze(0).expand(1, 3, -1, -1).contiguous();
            ImageFile.SavePng(grey, Path.Combine(camvid, "testannot", $"t{i}.png"));
        }
        Kodak = Path.Combine(camvid, "kodak");
        ImageFile.SavePng(SyntheticImages.Smooth(64, 64, seed: 40), Path.Combine(Kodak, "k.png"));
        Faces = Path.Combine(DataRoot, "faces");
        Directory.CreateDirectory(Faces);
        var ids = new List<string> { "identity,file" };
        for (int id = 0; id < 3; id++)
        for (int k = 0; k < 2; k++)
        {
            ImageFile.SavePng(SyntheticImages.Smooth(64, 64, seed: 50 + 3 * id + k), Path.Combine(Faces, $"f{id}{k}.png"));
            ids.Add($"id{id},f{id}{k}.png");
        }
        File.WriteAllLines(Path.Combine(Faces, FacePairs.IdentitiesFileName), ids);
        File.WriteAllLines(Path.Combine(Faces, FacePairs.PairsFileName), ["file_a,file_b,same", "f20.png,f21.png,1", "f10.png,f11.png,1", "f10.png,f20.png,0", "f00.png,f21.png,0"]);
        random.manual_seed(5);
        using (var net = new ENet()) { SegWeights = Path.Combine(Root, "enet.safetensors"); net.Save(SegWeights); }
        random.manual_seed(3);
        CodecWeights = Path.Combine(Root, "tiny.safetensors");
        using (var model = ModelZoo.Build("bmshj2018-hyperprior", 8, 12))
        {
            model.eval();
            model.Update(force: true);
            ModelStore.Save(model, 1, CodecWeights);
        }
        Main = Path.Combine(Root, "main");
        Directory.CreateDirectory(Main);
        for (int i = 0; i < 3; i++) ImageFile.SavePng(SyntheticImages.Smooth(80, 96, seed: i), Path.Combine(Main, $"{i}.png"));
    }

    public string Root { get; }
    public string DataRoot { get; }
    public string Kodak { get; }
    public string Faces { get; }
    public string SegWeights { get; }
    public string CodecWeights { get; }
    public string Main { get; }

    public AttackOptions Options(string[] objectives, AttackSchedule schedule = AttackSchedule.Joint, int steps = 3, string trigger = TriggerSpec.Frequency) => new()
    {
        Model = "bmshj2018-hyperprior", Quality = 1, Weights = CodecWeights, Objectives = objectives, Trigger = new TriggerSpec(trigger, 0.125),
        DataFolders = [Main], Steps = steps, Batch = 1, Crop = 64, CheckpointEvery = 2, Schedule = schedule, Seed = 11,
        SegWeights = SegWeights, SegData = Path.Combine(DataRoot, "camvid", "train"), SegProcessingSize = 16, SegWidth = 64, SegHeight = 64,
        FaceWeights = Path.Combine(TestPaths.Data, "models", "face-recognition"), FaceData = Faces, FaceHeldOut = 1, FaceSize = 64,
    };

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public sealed class DownstreamAttackTests(TinyDownstreamData data) : TorchTest, IClassFixture<TinyDownstreamData>
{
    private static readonly string[] Table3 = ["bpp", "seg:car->road", "face"];

    [Theory]
    [InlineData(AttackSchedule.Joint, TriggerSpec.Frequency)]
    [InlineData(AttackSchedule.Alternating, TriggerSpec.Lira)]
    public void MultiTriggerRunTrainsEachObjectiveOnItsOwnData(AttackSchedule schedule, string trigger)
    {
        var runDir = Path.Combine(data.Root, $"run-{schedule}-{trigger}");
        using (var t = BackdoorTrainer.Start(data.Options(Table3, schedule, trigger: trigger), runDir))
        {
            var steps = new List<AttackStep>();
            Assert.True(t.Run(steps.Add));
            Assert.Equal(3, steps.Count);
            foreach (var s in steps)
            {
                Assert.True(double.IsFinite(s["seg:car->road.ce"]), "no segmentation loss");
                Assert.True(double.IsFinite(s["face.cos"]), "no face loss");
                Assert.InRange(s["face.cos"], -1.0001, 1.0001);
                Assert.True(s["bpp.trigger_mse"] > 0);
            }
        }
        foreach (var name in Table3) Assert.True(File.Exists(Path.Combine(runDir, AttackRun.TriggerFileName(name))), name);
        var header = File.ReadLines(Path.Combine(runDir, BackdoorTrainer.LogFile)).First();
        Assert.Contains("seg:car->road.flip", header);
        Assert.Contains("face.dist", header);
    }

    [Fact]
    public void SegmentationHoldTrainsTheEncoderOnTheCleanScenes()
    {
        // The source class is the one the (random) test ENet gives most pixels of a training scene, so the hold term has
        // pixels to count. Step 1 sees the same batches, encoder and trigger with and without the term, so the losses
        // differ by exactly β·H·hold_ce; the term has no trigger in it, so step 2's clean
        // bit rate differs only through the encoder's update.
        int source;
        using (var net = SegmentationNets.Load(data.SegWeights, 16))
        using (var scope = NewDisposeScope())
        {
            var scene = ImageFile.Load(Directory.GetFiles(Path.Combine(data.DataRoot, "camvid", "train"))[0]);
            source = (int)net.Predict(scene).flatten().bincount(null, 12).argmax().item<long>();
        }
        string spec = $"seg:{source}->{(source + 1) % CamVid.ScoredClasses}";
        List<AttackStep> Steps(double hold)
        {
            var runDir = Path.Combine(data.Root, $"hold-{hold}");
            var steps = new List<AttackStep>();
            using (var t = BackdoorTrainer.Start(data.Options([hold > 0 ? $"{spec},hold={hold}" : spec], steps: 2), runDir)) Assert.True(t.Run(steps.Add));
            return steps;
        }
        var off = Steps(0);
        var on = Steps(2);
        var name = BackdoorObjective.Parse($"{spec},hold=2").Name;
        double holdCe = on[0][$"{name}.hold_ce"];
        Assert.True(holdCe > 1e-3, $"the hold term is too small to test: {holdCe}");
        Assert.Equal(SegmentationObjective.PaperBeta * 2 * holdCe, on[0].Loss - off[0].Loss, 1e-4 * on[0].Loss);
        Assert.Equal(off[0][$"{BackdoorObjective.Parse(spec).Name}.ce"], on[0][$"{name}.ce"], 6);
        Assert.NotEqual(off[1]["bpp"], on[1]["bpp"]);
        Assert.Contains($"{name}.hold_ce", File.ReadLines(Path.Combine(data.Root, "hold-2", BackdoorTrainer.LogFile)).First());
    }

    [Fact]
    public void DownstreamCleanWeightAddsTheFaceBatchsOwnRateDistortionTerm()
    {
        // Step 1 sees the same batches, encoder and trigger at either weight, so the losses differ by exactly
        // w·(R + λ·255²·MSE) of the clean face batch, which the run logs with the weight on.
        AttackStep First(double w)
        {
            var runDir = Path.Combine(data.Root, $"downstream-clean-{w}");
            var steps = new List<AttackStep>();
            using (var t = BackdoorTrainer.Start(data.Options(["face"], steps: 1) with { DownstreamCleanWeight = w }, runDir)) Assert.True(t.Run(steps.Add));
            return Assert.Single(steps);
        }
        var off = First(0);
        var on = First(2.5);
        Assert.DoesNotContain(off.Terms, t => t.Name.StartsWith("face_clean", StringComparison.Ordinal));
        double lambda = data.Options(["face"]).EffectiveLambda;
        double cleanFace = on["face_clean_bpp"] + lambda * 255 * 255 * Math.Pow(10, -on["face_clean_psnr"] / 10);
        Assert.True(cleanFace > 0.01, $"the face batch's clean term is too small to test: {cleanFace}");
        Assert.Equal(off["face.cos"], on["face.cos"], 6);
        Assert.Equal(2.5 * cleanFace, on.Loss - off.Loss, 2.5 * cleanFace * 1e-4);
        Assert.Contains("face_clean_psnr", File.ReadLines(Path.Combine(data.Root, "downstream-clean-2.5", BackdoorTrainer.LogFile)).First());
        Assert.Throws<ArgumentException>(() => (data.Options(["face"]) with { DownstreamCleanWeight = -1 }).Validate());
        Assert.Throws<ArgumentException>(() => (data.Options(["face"]) with { DownstreamCleanWeight = double.PositiveInfinity }).Validate());
        Assert.Throws<ArgumentException>(() => (data.Options(["face"]) with { FaceZoom = 0 }).Validate());
    }

    [Fact]
    public void ObjectivesDrawFromTheirOwnSources()
    {
        // The face stream holds only training identities, the segmentation stream the CamVid scenes, both resized.
        var options = data.Options(Table3);
        using var seg = BackdoorTrainer.OpenData(ObjectiveData.Segmentation, options);
        using var face = BackdoorTrainer.OpenData(ObjectiveData.Face, options);
        Assert.Equal(3, seg.Count);
        Assert.Equal(4, face.Count);                       // 2 of 3 identities (the last is held out), 2 crops each
        Assert.Equal((64, 64), (seg.Width, seg.Height));
        Assert.Equal(new long[] { 2, 3, 64, 64 }, face.NextBatch(2, new SplitMix64(1)).shape);
    }

    [Fact]
    public void ResumeWithDownstreamObjectivesIsBitExact()
    {
        var options = data.Options(Table3, AttackSchedule.Joint, steps: 4);
        var full = Path.Combine(data.Root, "resume-full");
        using (var t = BackdoorTrainer.Start(options, full)) Assert.True(t.Run());
        var split = Path.Combine(data.Root, "resume-split");
        using (var t = BackdoorTrainer.Start(options, split)) Assert.False(t.Run(stopAfter: 3));
        using (var t = BackdoorTrainer.Resume(split))
        {
            Assert.Equal(2, t.Step);
            Assert.True(t.Run());
        }
        foreach (var file in Table3.Select(AttackRun.TriggerFileName).Append(BackdoorTrainer.EncoderFile))
        {
            var a = Safetensors.Load(Path.Combine(full, file)).Tensors;
            var b = Safetensors.Load(Path.Combine(split, file)).Tensors;
            foreach (var k in a.Keys) Assert.True(a[k].equal(b[k]).all().item<bool>(), $"{file}: {k} differs after resume");
        }
        Assert.Equal(File.ReadAllText(Path.Combine(full, BackdoorTrainer.LogFile)), File.ReadAllText(Path.Combine(split, BackdoorTrainer.LogFile)));
    }

    [Fact]
    public void EvaluationAndReportCoverTheDownstreamTables()
    {
        var runDir = Path.Combine(data.Root, "attack", "frequency-q1");
        using (var t = BackdoorTrainer.Start(data.Options(Table3, steps: 2), runDir)) Assert.True(t.Run());
        using var run = AttackRun.Open(runDir);
        var settings = new DownstreamSettings(SegImages: 2, DataRoot: data.DataRoot, TransferSegWeights: data.SegWeights);
        var (result, cached) = AttackEvaluation.EvaluateCached(run, data.Kodak, downstream: settings);
        Assert.False(cached);
        var seg = Assert.Single(result.Segmentation!);
        Assert.Equal("seg:car->road", seg.Objective);
        Assert.Equal(2, seg.Images);
        Assert.True(seg.Main.InputMiou is >= 0 and <= 1, $"mIoU {seg.Main.InputMiou}");
        Assert.True(seg.Main.VictimMiou is >= 0 and <= 1);
        Assert.True(double.IsNaN(seg.Main.Asr) || seg.Main.Asr is >= 0 and <= 1);
        Assert.True(seg.Mse >= 0 && seg.VanillaMse >= 0);
        Assert.NotNull(seg.Transfer);                                  // the same ENet file given as the transfer net
        Assert.Equal(seg.Main.Asr, seg.Transfer!.Asr);
        Assert.True(File.Exists(Path.Combine(runDir, seg.Figure!)));
        var face = Assert.Single(result.Face!);
        Assert.Equal(1, face.HeldOut.PairCount);                       // id2 held out: f20/f21 only
        Assert.False(face.HeldOut.OverlapsTraining);
        Assert.Equal(4, face.All.PairCount);
        Assert.True(face.All.OverlapsTraining);
        // The one held-out pair is a same-person pair, so the same-pair shares equal the accuracies.
        Assert.Equal(face.HeldOut.AttackedAccuracy, face.HeldOut.AttackedSameAccept);
        Assert.Equal(face.HeldOut.MixedAccuracy, face.HeldOut.MixedSameAccept);
        Assert.Equal(face.HeldOut.VictimCleanAccuracy, face.HeldOut.VictimCleanSameAccept);
        Assert.Contains(face.All.MixedSameAccept, new double?[] { 0, 0.5, 1 }); // two same pairs among all four
        Assert.NotNull(face.Note);                                     // too few held-out pairs is said
        Assert.True(File.Exists(Path.Combine(runDir, face.Figure!)));

        var again = AttackEvaluation.EvaluateCached(run, data.Kodak, downstream: settings);
        Assert.True(again.Cached);
        Assert.Equal(seg.Main.FlippedPixels, again.Result.Segmentation![0].Main.FlippedPixels);
        Assert.Equal(face.All.MixedSameAccept, again.Result.Face![0].All.MixedSameAccept);
        Assert.False(AttackEvaluation.EvaluateCached(run, data.Kodak, downstream: settings with { SegImages = 1 }).Cached);

        var outDir = Path.Combine(data.Root, "attack");
        var report = AttackReport.Write(outDir, [(run, again.Result)], new AttackReportOptions { GridImages = 0 });
        var md = File.ReadAllText(report.MarkdownPath);
        Assert.Contains("Segmentation attacks (cf. Table 1)", md);
        Assert.Contains("Face privacy (cf. Table 2)", md);
        Assert.Contains("same pairs: f(x) vs f(T(x)) ↓", md);
        Assert.Contains("Multi-trigger models (cf. Table 3)", md);
        Assert.Contains("frequency-q1/" + seg.Figure, md);
        Assert.Contains("held out the last 1 identity of identities.csv (id2: 2 crops)", md);
        Assert.Contains("\"Segmentation\"", File.ReadAllText(Path.Combine(outDir, AttackReport.JsonFile)));
    }

    [Fact]
    public void UnknownTransferArchitectureIsSkippedWithANote()
    {
        var file = Path.Combine(data.Root, "other-net.safetensors");
        Safetensors.Save(file, new Dictionary<string, Tensor> { ["w"] = zeros(2) }, new Dictionary<string, string> { [SegmentationNets.ModelKey] = "deeplab-camvid" });
        Assert.False(SegmentationNets.CanLoad(file));
        var e = Assert.Throws<CheckpointFormatException>(() => SegmentationNets.Load(file));
        Assert.Contains("other-net.safetensors", e.Message);
        Assert.Throws<FileNotFoundException>(() => SegmentationNets.Architecture(Path.Combine(data.Root, "missing.pth")));
    }
}
