using LicBackdoor.Codec.Training;
using LicBackdoor.Imaging;
using LicBackdoor.Weights;

namespace LicBackdoor.Tests.Codec.Training;

public sealed class TrainerTests : TorchTest
{
    [Fact]
    public void RunLogHeaderQuotesColumnNamesHoldingCommasOrQuotes()
    {
        Assert.Equal("step,loss", RunLog.Header(["step", "loss"]));
        Assert.Equal("step,\"face,beta=20.cos\",\"a\"\"b\",psnr", RunLog.Header(["step", "face,beta=20.cos", "a\"b", "psnr"]));
    }

    private readonly string dir = Directory.CreateTempSubdirectory("licb-train-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private TrainOptions Options(string model)
    {
        var images = Path.Combine(dir, "images");
        if (!Directory.Exists(images))
        {
            Directory.CreateDirectory(images);
            for (int i = 0; i < 6; i++) ImageFile.SavePng(SyntheticImages.Smooth(96, 112, seed: i), Path.Combine(images, $"{i}.png"));
        }
        return new TrainOptions
        {
            Model = model, N = 8, M = 12, Lambda = 0.01, DataFolders = new[] { images }, Steps = 24, Batch = 2, Crop = 64,
            LearningRate = 1e-3, ValidateEvery = 6, CheckpointEvery = 6, ValidationImages = 2, Seed = 5,
        };
    }

    [Theory]
    [InlineData("bmshj2018-hyperprior", false)]
    [InlineData("cheng2020-anchor", false)]
    [InlineData("bmshj2018-hyperprior", true)]
    public void ResumeReproducesTheUninterruptedRunExactly(string model, bool augmented)
    {
        var options = Options(model);
        if (augmented) options = options with { MinScale = 0.5, Rotate = true };
        var full = Path.Combine(dir, "full");
        using (var t = Trainer.Start(options, full)) Assert.True(t.Run());
        var split = Path.Combine(dir, "split");
        using (var t = Trainer.Start(options, split)) Assert.False(t.Run(stopAfter: 15)); // "killed" after step 15; last checkpoint at 12
        using (var t = Trainer.Resume(split))
        {
            Assert.Equal(12, t.Step);
            Assert.True(t.Run());
        }
        var a = Safetensors.Load(Path.Combine(full, Trainer.ModelFile)).Tensors;
        var b = Safetensors.Load(Path.Combine(split, Trainer.ModelFile)).Tensors;
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        foreach (var k in a.Keys) Assert.True(a[k].equal(b[k]).all().item<bool>(), $"{k} differs after resume");
        Assert.Equal(File.ReadAllText(Path.Combine(full, Trainer.LogFile)), File.ReadAllText(Path.Combine(split, Trainer.LogFile)));
    }

    [Fact]
    public void LossFalls()
    {
        var options = Options("bmshj2018-hyperprior") with { Steps = 60, ValidateEvery = 60, CheckpointEvery = 60 };
        var losses = new List<double>();
        using var t = Trainer.Start(options, Path.Combine(dir, "fall"));
        double before = t.ValidationLoss();
        t.Run(s => losses.Add(s.Loss));
        double after = t.ValidationLoss();
        Assert.True(after < before * 0.8, $"validation loss {before:F3} -> {after:F3}");
        Assert.True(losses.TakeLast(10).Average() < losses.Take(10).Average());
    }

    [Fact]
    public void ExportGivesAUsableModelFromARunningRun()
    {
        var options = Options("bmshj2018-hyperprior");
        var run = Path.Combine(dir, "exp");
        using (var t = Trainer.Start(options, run)) t.Run(stopAfter: 7); // checkpoint at step 6
        var path = Path.Combine(dir, "exported.safetensors");
        Assert.Equal(6, Trainer.Export(run, path));
        var codec = LicBackdoor.Codec.Zoo.ModelStore.Open("bmshj2018-hyperprior", 3, path);
        var x = SyntheticImages.Smooth(64, 64);
        Assert.Equal(x.shape, codec.Model.Decompress(codec.Model.Compress(x)).shape);
    }

    [Fact]
    public void TrainingFromWidenedWeightsStartsWhereTheNarrowModelStands()
    {
        var options = Options("bmshj2018-hyperprior") with { Steps = 30, ValidateEvery = 30, CheckpointEvery = 30 };
        double narrowLoss;
        using (var t = Trainer.Start(options, Path.Combine(dir, "narrow"))) { t.Run(); narrowLoss = t.ValidationLoss(); }
        var narrowWeights = Path.Combine(dir, "narrow", Trainer.ModelFile);

        var wide = options with { N = 16, Steps = 2, CheckpointEvery = 1, Init = narrowWeights, WidenInit = true };
        var wideRun = Path.Combine(dir, "wide");
        using (var t = Trainer.Start(wide, wideRun))
        {
            double start = t.ValidationLoss();
            Assert.True(Math.Abs(start - narrowLoss) < 0.25 * narrowLoss, $"widened start {start:F3} against the narrow model's {narrowLoss:F3}");
            using var fresh = Trainer.Start(wide with { Init = null, WidenInit = false }, Path.Combine(dir, "fresh"));
            Assert.True(start < fresh.ValidationLoss(), "the widened start is no better than a fresh model");
            t.Run(stopAfter: 1);
        }
        // without --widen the narrow file does not fit, and the error names it
        var e = Assert.Throws<CheckpointFormatException>(() => Trainer.Start(wide with { WidenInit = false }, Path.Combine(dir, "plain")));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Throws<ArgumentException>(() => Trainer.Start(wide with { Init = null }, Path.Combine(dir, "noinit")));
        // a resumed run takes its weights from its checkpoint: the initial weights are neither read again nor needed
        File.Delete(narrowWeights);
        using (var t = Trainer.Resume(wideRun))
        {
            Assert.Equal(1, t.Step);
            Assert.True(t.Run());
        }
    }

    [Fact]
    public void StartRefusesAFolderWithARun()
    {
        var options = Options("bmshj2018-hyperprior") with { Steps = 1 };
        var run = Path.Combine(dir, "once");
        using (var t = Trainer.Start(options, run)) t.Run();
        Assert.Throws<IOException>(() => Trainer.Start(options, run));
        Assert.Throws<FileNotFoundException>(() => Trainer.Resume(Path.Combine(dir, "nothing")));
    }
}
