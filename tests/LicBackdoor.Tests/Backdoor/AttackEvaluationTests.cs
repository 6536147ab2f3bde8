using System.Text.Json;
using LicBackdoor.Backdoor;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor;

[Collection(TinyAttackRunCollection.Name)]
public sealed class AttackEvaluationTests(TinyAttackRun tiny) : TorchTest
{
    [Fact]
    public void EvaluationMeasuresRealBitstreamsOfCleanAndPoisonedImages()
    {
        using var run = AttackRun.Open(tiny.RunDir);
        var calls = new List<(int Done, int Total)>();
        var r = AttackEvaluation.Evaluate(run, tiny.Images, progress: (done, total, _) => calls.Add((done, total)));

        Assert.Equal(new[] { (1, 2), (2, 2) }, calls);
        Assert.Equal("frequency-q1", r.Run);
        Assert.Equal(new[] { "bpp", "psnr" }, r.Objectives.Select(o => o.Name));
        Assert.Equal(new[] { "bpp", "psnr" }, r.Objectives.Select(o => o.Kind));
        Assert.Equal(new[] { ("a.png", 64, 48), ("b.png", 80, 64) }, r.Images.Select(i => (i.Image, i.Width, i.Height)));
        foreach (var image in r.Images)
        {
            double pixels = image.Width * image.Height;
            var codings = new[] { image.VanillaClean, image.VictimClean }.Concat(image.Poisoned.SelectMany(p => new[] { p.Victim, p.Vanilla })).ToList();
            Assert.Equal(6, codings.Count);
            foreach (var c in codings)
            {
                Assert.True(c.Bytes > 0);
                Assert.Equal(c.Bytes * 8.0 / pixels, c.Bpp);
                Assert.True(double.IsFinite(c.Psnr) && c.Psnr > 5, $"PSNR {c.Psnr}");
                Assert.True(double.IsNaN(c.MsSsim));   // sides ≤ 160: no MS-SSIM
            }
            Assert.Equal(2, image.Poisoned.Count);
            foreach (var p in image.Poisoned)
            {
                Assert.True(p.TriggerMse >= 0 && p.TriggerMse < 0.05, $"trigger MSE {p.TriggerMse}");
                Assert.True(p.TriggerPsnr > 13, $"trigger PSNR {p.TriggerPsnr}");
                if (p.TriggerMse > 0) Assert.Equal(-10 * Math.Log10(p.TriggerMse), p.TriggerPsnr, 6);
            }
        }
        var vanilla = r.VanillaClean;
        Assert.Equal(r.Images.Average(i => i.VanillaClean.Bpp), vanilla.Bpp, 12);
        Assert.Equal(r.Images.Average(i => i.VanillaClean.Psnr), vanilla.Psnr, 12);
        Assert.Equal(r.VictimClean.Psnr - vanilla.Psnr, r.CleanPsnrDelta, 12);
        Assert.Equal((r.VictimClean.Bpp - vanilla.Bpp) / vanilla.Bpp * 100, r.CleanBppChangePercent, 9);
        var bpp = r.Summary("bpp");
        Assert.Equal(r.Images.Average(i => i.Poisoned[0].Victim.Bpp), bpp.Victim.Bpp, 12);
        Assert.Equal(bpp.Victim.Bpp / r.VictimClean.Bpp, bpp.BppRatio, 12);
        Assert.Equal(r.VictimClean.Psnr - r.Summary("psnr").Victim.Psnr, r.Summary("psnr").PsnrDrop, 12);
        Assert.Throws<ArgumentException>(() => r.Summary("nope"));

        // JSON round trip (NaN MS-SSIM included), and the derived figures are in the JSON.
        var json = r.ToJson();
        Assert.Contains("\"BppRatio\"", json);
        Assert.Contains("\"CleanPsnrDelta\"", json);
        Assert.Contains("NaN", json);
        var back = AttackEvaluationResult.FromJson(json);
        Assert.Equal(json, back.ToJson());
    }

    [Fact]
    public void PoisonedInputsAreEightBitImages()
    {
        using var run = AttackRun.Open(tiny.RunDir);
        using var scope = NewDisposeScope();
        var x = ImageFile.Load(Path.Combine(tiny.Images, "b.png"));
        var xp = AttackEvaluation.Poison(run.TriggerFor("bpp"), x);
        Assert.Equal(x.shape, xp.shape);
        Assert.True((xp * 255 - (xp * 255).round()).abs().max().item<float>() < 1e-4);
        Assert.True(xp.min().item<float>() >= 0 && xp.max().item<float>() <= 1);
        // what a saved PNG holds
        var png = Path.Combine(tiny.Root, "poisoned-8bit.png");
        ImageFile.SavePng(xp, png);
        Assert.Equal(0, (ImageFile.Load(png) - xp).abs().max().item<float>(), 6);
        File.Delete(png);
    }

    [Fact]
    public void EvaluationIsCachedUntilTheEncoderChangesOrTheImagesDiffer()
    {
        using var run = AttackRun.Open(tiny.RunDir);
        var cache = Path.Combine(tiny.RunDir, AttackEvaluation.CacheFile);
        var encoder = Path.Combine(tiny.RunDir, BackdoorTrainer.EncoderFile);
        var written = File.GetLastWriteTimeUtc(encoder);
        File.Delete(cache);
        try
        {
            var (first, cached1) = AttackEvaluation.EvaluateCached(run, tiny.Images, limit: 1);
            Assert.False(cached1);
            Assert.True(File.Exists(cache));
            var (second, cached2) = AttackEvaluation.EvaluateCached(run, tiny.Images, limit: 1);
            Assert.True(cached2);
            Assert.Equal(first.ToJson(), second.ToJson());

            var (all, cached3) = AttackEvaluation.EvaluateCached(run, tiny.Images);   // other images: evaluated again
            Assert.False(cached3);
            Assert.Equal(2, all.Images.Count);

            File.SetLastWriteTimeUtc(encoder, DateTime.UtcNow.AddMinutes(1));          // a newer encoder: evaluated again
            var (_, cached4) = AttackEvaluation.EvaluateCached(run, tiny.Images, limit: 1);
            Assert.False(cached4);
            Assert.Throws<ArgumentException>(() => AttackEvaluation.Evaluate(run, tiny.Images, limit: 0));
        }
        finally
        {
            File.SetLastWriteTimeUtc(encoder, written);
            File.Delete(cache);
        }
    }

    [Fact]
    public void ChooseFindsTheOneRunThatFits()
    {
        var dir = Directory.CreateDirectory(Path.Combine(tiny.Root, "choose")).FullName;
        try
        {
            Assert.Throws<ArgumentException>(() => AttackRun.Choose(dir));
            var record = AttackRecord.Read(tiny.RunDir);
            void Fake(string name, AttackOptions o)
            {
                Directory.CreateDirectory(Path.Combine(dir, name));
                File.WriteAllText(Path.Combine(dir, name, BackdoorTrainer.OptionsFile), JsonSerializer.Serialize(record with { Options = o }, BackdoorTrainer.Json));
            }
            Fake("frequency-q1", record.Options);
            Assert.Equal(Path.Combine(dir, "frequency-q1"), AttackRun.Choose(dir));
            Fake("lira-q2", record.Options with { Quality = 2, Trigger = new TriggerSpec(TriggerSpec.Lira) });

            var both = Assert.Throws<ArgumentException>(() => AttackRun.Choose(dir));
            Assert.Contains("frequency-q1: frequency q1", both.Message);
            Assert.Contains("lira-q2: lira q2", both.Message);
            Assert.DoesNotContain('\n', both.Message);
            Assert.Equal(Path.Combine(dir, "lira-q2"), AttackRun.Choose(dir, quality: 2));
            Assert.Equal(Path.Combine(dir, "frequency-q1"), AttackRun.Choose(dir, triggerKind: "FREQUENCY"));
            var none = Assert.Throws<ArgumentException>(() => AttackRun.Choose(dir, quality: 2, triggerKind: "frequency"));
            Assert.Contains("--quality 2 --trigger frequency", none.Message);
            // a run folder is its own only choice
            Assert.Equal(tiny.RunDir, AttackRun.Choose(tiny.RunDir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
