using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Defenses;
using LicBackdoor.Imaging;
using LicBackdoor.Tests.Backdoor;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Defenses;

[Collection(TinyAttackRunCollection.Name)]
public sealed class DefenseEvaluationTests(TinyAttackRun tiny) : TorchTest
{
    [Fact]
    public void EvaluationGivesFiniteFiguresForEveryDefence()
    {
        using var run = AttackRun.Open(tiny.RunDir);
        var defenses = new[] { "none", "blur:0.5", "squeeze:3" }.Select(Defense.Parse).ToList();
        var calls = new List<(int, int)>();
        var r = DefenseEvaluation.Evaluate(run, tiny.Images, defenses, progress: (d, t) => calls.Add((d, t)));

        Assert.Equal(new[] { (1, 2), (2, 2) }, calls);
        Assert.Equal("frequency-q1", r.Run);
        Assert.Equal(1.0, r.Amplification);
        Assert.Equal(new[] { "none", "blur:0.5", "squeeze:3" }, r.Defenses);
        Assert.Equal(new[] { "bpp", "psnr" }, r.Objectives.Select(o => o.Name));
        Assert.Equal(2, r.Images.Count);
        foreach (var image in r.Images)
        {
            double pixels = image.Width * image.Height;
            Assert.Equal(3, image.Defenses.Count);
            var codings = image.Defenses.SelectMany(d => d.Poisoned.Select(p => p.Victim).Append(d.VictimClean)).Append(image.VictimClean).ToList();
            Assert.Equal(10, codings.Count);
            foreach (var c in codings)
            {
                Assert.True(c.Bytes > 0);
                Assert.Equal(c.Bytes * 8.0 / pixels, c.Bpp);
                Assert.True(double.IsFinite(c.Psnr) && c.Psnr > 5, $"PSNR {c.Psnr}");
            }
            // "none" codes exactly what the attack evaluation codes
            Assert.Equal(image.VictimClean, image.Defenses[0].VictimClean);
        }
        var reference = AttackEvaluation.EvaluateImage(run, Path.Combine(tiny.Images, "a.png"));
        Assert.Equal(reference.Poisoned.Select(p => p.Victim.Bytes), r.Images[0].Defenses[0].Poisoned.Select(p => p.Victim.Bytes));

        Assert.Equal(6, r.Summaries.Count);
        foreach (var s in r.Summaries)
            foreach (var v in new[] { s.Poisoned.Bpp, s.Poisoned.Psnr, s.Clean.Bpp, s.Clean.Psnr, s.BppRatio, s.PsnrDrop, s.CleanPsnrCost, s.CleanBppChangePercent })
                Assert.True(double.IsFinite(v), $"{s.Defense}/{s.Objective}: {v}");
        var none = r.Summary("none", "bpp");
        Assert.Equal(0, none.CleanPsnrCost, 12);
        Assert.Equal(none.Poisoned.Bpp / none.Clean.Bpp, none.BppRatio, 12);
        Assert.Throws<ArgumentException>(() => r.Summary("blur:0.3", "bpp"));

        var table = r.ToTable();
        Assert.Equal(new[] { "", "none", "blur:0.5", "squeeze:3" }, table.Columns);
        Assert.All(table.Rows, row => Assert.Equal(4, row.Count));
        Assert.Contains(table.Rows, row => row[0].StartsWith("clean PSNR", StringComparison.Ordinal));
        Assert.Contains(table.Rows, row => row[0].StartsWith("attack PSNR ↓", StringComparison.Ordinal));

        var json = r.ToJson();
        Assert.Equal(json, DefenseEvaluationResult.FromJson(json).ToJson());
        Assert.Throws<IOException>(() => DefenseEvaluationResult.FromJson("{}"));

        var (jsonPath, mdPath) = DefenseEvaluation.Write(tiny.RunDir, r);
        Assert.Equal(Path.Combine(tiny.RunDir, "defense.json"), jsonPath);
        Assert.Contains("| none | blur:0.5 | squeeze:3 |", File.ReadAllText(mdPath));
        File.Delete(jsonPath);
        File.Delete(mdPath);

        Assert.Throws<ArgumentException>(() => DefenseEvaluation.Evaluate(run, tiny.Images, []));
        Assert.Throws<ArgumentException>(() => DefenseEvaluation.Evaluate(run, tiny.Images, [Defense.Parse("none"), Defense.Parse("none")]));
    }

    [Fact]
    public void AmplifiedTriggerWithFactorOneIsTheTrigger()
    {
        using var run = AttackRun.Open(tiny.RunDir);
        var x = ImageFile.Load(Path.Combine(tiny.Images, "b.png"));
        var trigger = run.TriggerFor("psnr");
        using (no_grad())
        {
            var t = trigger.Apply(x, clamp: true);
            Assert.True((AmplifiedTrigger.Amplify(x, trigger.forward(x), 1) - t).abs().max().item<float>() < 1e-6f);
        }
        var p1 = AmplifiedTrigger.Poison(trigger, x, 1);
        var p0 = AttackEvaluation.Poison(trigger, x);
        Assert.True((p1 - p0).abs().max().item<float>() <= 1 / 255f + 1e-6f);
        Assert.True(p1.eq(p0).to(ScalarType.Float32).mean().item<float>() > 0.999f);

        double Mse(Tensor a) { using var _ = NewDisposeScope(); return (a.to(ScalarType.Float64) - x.to(ScalarType.Float64)).square().mean().item<double>(); }
        var p3 = AmplifiedTrigger.Poison(trigger, x, 3);
        Assert.True(Mse(p3) > Mse(p0), $"amplified MSE {Mse(p3)} vs {Mse(p0)}");

        var r = DefenseEvaluation.Evaluate(run, [Path.Combine(tiny.Images, "b.png")], [Defense.Parse("squeeze:3")], amplification: 3);
        Assert.Equal(3.0, r.Amplification);
        Assert.True(double.IsFinite(r.Summary("squeeze:3", "psnr").Poisoned.Psnr));
        Assert.Equal("defense-x3.json", DefenseEvaluation.FileName(3));
        // The reported trigger MSE is that of the amplified 8-bit poisoned input, one per objective.
        var reported = r.Images[0].TriggerMse!;
        Assert.Equal(2, reported.Count);
        Assert.Equal(Mse(p3), reported[1], 6);
        Assert.Contains("Trigger MSE of x_p against x", r.ToMarkdown());
        Assert.Equal(reported, DefenseEvaluationResult.FromJson(r.ToJson()).Images[0].TriggerMse);
    }
}
