using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Downstream.Training;
using LicBackdoor.Evaluation;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Downstream.Training;

public sealed class SegmentationTrainerTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-segtrain-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private SegmentationTrainOptions Options(string arch)
    {
        var root = Path.Combine(dir, "data");
        if (!Directory.Exists(root)) TinyCamVid.Create(root);
        return new SegmentationTrainOptions
        {
            Architecture = arch, ResNetWidth = 8, DataRoot = root, Steps = 12, Batch = 2, CropWidth = 32, CropHeight = 24,
            ScaleMin = 0.75, ScaleMax = 1.25, InputScale = 1, LearningRate = 5e-3, WarmupSteps = 2,
            ValidateEvery = 6, ValidationImages = 2, CheckpointEvery = 4, Seed = 3,
        };
    }

    [Fact]
    public void ClassWeightsFollowEnetsFormula()
    {
        long[] histogram = [500, 300, 0, 200, 0, 0, 0, 0, 0, 0, 0, 4000];
        var w = SegmentationTrainer.ClassWeights(histogram);
        Assert.Equal(1 / Math.Log(1.02 + 0.5), w[0], 12);
        Assert.Equal(1 / Math.Log(1.02 + 0.3), w[1], 12);
        Assert.Equal(1 / Math.Log(1.02), w[2], 12);      // absent class: the largest weight, about 50.5
        Assert.Equal(1 / Math.Log(1.02 + 0.2), w[3], 12);
        Assert.Equal(0, w[CamVid.VoidClass]);            // void pixels do not count towards p either
        Assert.Equal(12, w.Length);
        Assert.True(SegmentationTrainer.ClassWeights(histogram, c: 1.1)[2] < w[2]);
        Assert.Throws<ArgumentException>(() => SegmentationTrainer.ClassWeights(new long[11]));
        Assert.Throws<ArgumentException>(() => SegmentationTrainer.ClassWeights([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 99]));
    }

    [Fact]
    public void VoidPixelsContributeNothingToTheLoss()
    {
        using var scope = NewDisposeScope();
        var weights = tensor(SegmentationTrainer.ClassWeights([5, 4, 3, 9, 1, 2, 1, 1, 3, 1, 1, 7]).Select(v => (float)v).ToArray());
        var labels = randint(0, 12, [2, 6, 7]);
        labels[0, 0, 0] = tensor(11L);
        labels[1, 2, 3] = tensor(11L);
        var isVoid = labels.eq(CamVid.VoidClass);
        var logits = randn(2, 12, 6, 7).requires_grad_(true);
        var loss = SegmentationTrainer.Loss(logits, labels, weights);
        loss.backward();
        // No gradient reaches the logits of void pixels.
        Assert.Equal(0f, logits.grad!.permute(0, 2, 3, 1)[isVoid].abs().sum().item<float>());
        // Changing the logits at void pixels does not change the loss.
        var changed = logits.detach().clone();
        changed.permute(0, 2, 3, 1)[isVoid] = full(12, 100f);
        Assert.Equal(loss.item<float>(), SegmentationTrainer.Loss(changed, labels, weights).item<float>());
        // The loss is the class-weighted mean over the non-void pixels.
        var keep = isVoid.logical_not();
        var logp = logits.detach().log_softmax(1).permute(0, 2, 3, 1)[keep];   // [P, 12]
        var t = labels[keep];
        var w = weights[t];
        double expected = (-(logp.gather(1, t.unsqueeze(1)).squeeze(1) * w).sum() / w.sum()).item<float>();
        Assert.Equal(expected, loss.item<float>(), 5);
    }

    [Theory]
    [InlineData("enet")]
    [InlineData("resnet")]
    public void LossFallsOnTinyScenes(string arch)
    {
        var options = Options(arch) with { Steps = 40, ValidateEvery = 40, CheckpointEvery = 40, ScaleMin = 1, ScaleMax = 1, Jitter = 0 };
        var losses = new List<double>();
        using var t = SegmentationTrainer.Start(options, Path.Combine(dir, "fall-" + arch));
        Assert.True(t.Run(s => losses.Add(s.Loss)));
        Assert.Equal(40, losses.Count);
        double first = losses.Take(5).Average(), last = losses.TakeLast(5).Average();
        Assert.True(last < 0.6 * first, $"{arch}: loss {first:F3} -> {last:F3}");
    }

    [Theory]
    [InlineData("enet")]
    [InlineData("resnet")]
    public void ResumeReproducesTheUninterruptedRunExactly(string arch)
    {
        var options = Options(arch);
        var full = Path.Combine(dir, "full");
        using (var t = SegmentationTrainer.Start(options, full)) Assert.True(t.Run());
        var split = Path.Combine(dir, "split");
        using (var t = SegmentationTrainer.Start(options, split)) Assert.False(t.Run(stopAfter: 10)); // "killed" after step 10; last checkpoint at 8
        using (var t = SegmentationTrainer.Resume(split))
        {
            Assert.Equal(8, t.Step);
            Assert.True(t.Run());
        }
        var a = Safetensors.Load(Path.Combine(full, SegmentationTrainer.ModelFile));
        var b = Safetensors.Load(Path.Combine(split, SegmentationTrainer.ModelFile));
        Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
        foreach (var k in a.Tensors.Keys) Assert.True(a.Tensors[k].equal(b.Tensors[k]).all().item<bool>(), $"{k} differs after resume");
        Assert.Equal(a.Metadata, b.Metadata);
        Assert.Equal(File.ReadAllText(Path.Combine(full, SegmentationTrainer.LogFile)), File.ReadAllText(Path.Combine(split, SegmentationTrainer.LogFile)));
        Assert.Contains(",", File.ReadLines(Path.Combine(full, SegmentationTrainer.LogFile)).ElementAt(6)); // step 6 carries the validation mIoU
        Assert.Empty(Directory.GetFiles(split, "*.tmp"));
    }

    [Theory]
    [InlineData("enet", typeof(ENet))]
    [InlineData("resnet", typeof(SegResNet))]
    public void SavedWeightsRoundTripThroughFromFileAndEvaluation(string arch, Type type)
    {
        var options = Options(arch) with { Steps = 6, InputScale = 0.75 };
        var run = Path.Combine(dir, "rt-" + arch);
        using var t = SegmentationTrainer.Start(options, run);
        Assert.True(t.Run());
        var path = Path.Combine(run, SegmentationTrainer.ModelFile);
        using var net = SegmentationNets.FromFile(path);
        Assert.IsType(type, net);
        Assert.Equal(options.Preprocessing, net.Preprocessing);
        Assert.Equal(SegmentationPreprocessing.ImageNetMean, net.Preprocessing.Mean);
        Assert.Equal(0.75, net.Preprocessing.Scale);
        using var scope = NewDisposeScope();
        var x = rand(1, 3, 32, 48);
        t.Net.eval();
        Assert.True(t.Net.Predict(x).equal(net.Predict(x)).all().item<bool>());
        Assert.True(t.Net.Logits(x).equal(net.Logits(x)).all().item<bool>());
        var report = SegmentationEvaluation.Evaluate(net, CamVid.Open("test", options.DataRoot), path);
        Assert.Equal(2, report.Images);
        Assert.InRange(report.GlobalAccuracy, 0, 1);
        if (arch == "enet")
        {
            using var enet = ENet.FromFile(path);   // ENet's own loader honours the recorded preprocessing too
            Assert.Equal(net.Preprocessing, enet.Preprocessing);
        }
        else
        {
            var e = Assert.Throws<CheckpointFormatException>(() => ENet.FromFile(path));
            Assert.Contains(path, e.Message);
        }
        // A run still going exports the weights of its last checkpoint.
        var exported = Path.Combine(dir, "exported-" + arch + ".safetensors");
        Assert.Equal(6, SegmentationTrainer.Export(run, exported));
        using var again = SegmentationNets.FromFile(exported);
        Assert.True(again.Predict(x).equal(net.Predict(x)).all().item<bool>());
    }

    [Fact]
    public void BadDataIsRefusedWithTheFileName()
    {
        var options = Options("resnet");
        var labels = Directory.GetFiles(Path.Combine(options.DataRoot, "camvid", "trainannot")).Order().First();
        var saved = File.ReadAllBytes(labels);
        LicBackdoor.Imaging.ImageFile.SaveGrayPng(new byte[20 * 10], 20, 10, labels);
        var e = Assert.Throws<ArgumentException>(() => SegmentationTrainer.Start(options, Path.Combine(dir, "bad1")));
        Assert.Contains(labels, e.Message);
        File.WriteAllBytes(labels, saved[..40]);   // truncated PNG
        var e2 = Assert.ThrowsAny<Exception>(() => SegmentationTrainer.Start(options, Path.Combine(dir, "bad2")));
        Assert.Contains(Path.GetFileName(labels), e2.Message);
        File.WriteAllBytes(labels, saved);
        Assert.Throws<DirectoryNotFoundException>(() => SegmentationTrainer.Start(options with { DataRoot = Path.Combine(dir, "nowhere") }, Path.Combine(dir, "bad3")));
        Assert.Throws<ArgumentException>(() => SegmentationTrainer.Start(options with { Architecture = "enet", CropWidth = 30 }, Path.Combine(dir, "bad4")));
        Assert.Throws<ArgumentException>(() => SegmentationTrainer.Start(options with { Architecture = "unet" }, Path.Combine(dir, "bad5")));
        using (var t = SegmentationTrainer.Start(options with { Steps = 1 }, Path.Combine(dir, "once"))) t.Run();
        Assert.Throws<IOException>(() => SegmentationTrainer.Start(options, Path.Combine(dir, "once")));
        Assert.Throws<FileNotFoundException>(() => SegmentationTrainer.Resume(Path.Combine(dir, "nothing")));
    }

    [Fact]
    public void LearningRateWarmsUpThenFollowsTheCosine()
    {
        var options = Options("resnet") with { Steps = 102, WarmupSteps = 2, LearningRate = 1e-3, FinalLearningRateFraction = 0.01 };
        using var t = SegmentationTrainer.Start(options, Path.Combine(dir, "lr"));
        Assert.Equal(5e-4, t.LearningRateAt(0), 12);
        Assert.Equal(1e-3, t.LearningRateAt(2), 12);
        Assert.Equal(1e-5 + 0.5 * (1e-3 - 1e-5), t.LearningRateAt(52), 12);
        Assert.Equal(1e-5, t.LearningRateAt(102), 12);
    }
}
