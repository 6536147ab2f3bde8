using System.Text.Json;
using LicBackdoor.Backdoor;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Evaluation;
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
    public void EvaluationMeasuresTheEmbeddedNeighbouringQualityOnTheSameImages()
    {
        using var run = AttackRun.Open(tiny.RunDir);   // q1 on the embedded weights: q2 is its only neighbour
        var r = AttackEvaluation.Evaluate(run, tiny.Images);
        var n = Assert.Single(r.VanillaNeighbours!);
        Assert.Equal(2, n.Quality);
        var q2 = ModelStore.Open(run.Record.Options.Model, 2);
        try
        {
            var direct = CodingMeans.Of(AttackEvaluation.Files(tiny.Images, null).Select(f =>
            {
                using var scope = NewDisposeScope();
                var x = ImageFile.Load(f);
                return AttackEvaluation.Code(q2, x, x);
            }).ToList());
            Assert.Equal(direct, n.Clean);
            Assert.True(n.Clean.Bpp > r.VanillaClean.Bpp, $"q2 {n.Clean.Bpp} bpp, q1 {r.VanillaClean.Bpp}");
        }
        finally { q2.Model.Dispose(); }
        Assert.Equal(r.ToJson(), AttackEvaluationResult.FromJson(r.ToJson()).ToJson());

        // A cached evaluation written without the neighbours gets them added; the rest is kept as it was.
        var cache = Path.Combine(tiny.RunDir, AttackEvaluation.CacheFile);
        try
        {
            File.WriteAllText(cache, (r with { VanillaNeighbours = null }).ToJson());
            var (again, cached) = AttackEvaluation.EvaluateCached(run, tiny.Images);
            Assert.True(cached);
            Assert.Equal(r.Date, again.Date);
            Assert.Equal(n, Assert.Single(again.VanillaNeighbours!));
            Assert.Equal(again.ToJson(), File.ReadAllText(cache));
        }
        finally { File.Delete(cache); }

        // Weights given by file count only when they are the embedded file's bytes.
        var copy = Path.Combine(tiny.Root, "q1-copy.safetensors");
        File.Copy(ModelStore.EmbeddedWeights(run.Record.Options.Model, 1)!, copy, overwrite: true);
        try
        {
            var o = run.Record.Options;
            Assert.True(AttackEvaluation.UsesEmbeddedVanilla(o with { Weights = copy }));
            var bytes = File.ReadAllBytes(copy);
            bytes[^1] ^= 1;
            File.WriteAllBytes(copy, bytes);
            Assert.False(AttackEvaluation.UsesEmbeddedVanilla(o with { Weights = copy }));
            Assert.False(AttackEvaluation.UsesEmbeddedVanilla(o with { Weights = ModelStore.CompressAiKeyword }));
        }
        finally { File.Delete(copy); }
    }

    [Fact]
    public void TheVictimsCleanPointIsPlacedOnTheVanillaCurveThroughTheNeighbours()
    {
        static AttackEvaluationResult Result(double victimBpp, double victimPsnr) =>
            new("r", "m", 3, "t", "frequency", "v", "f", "d", 0, [],
                [new AttackImageResult("a.png", 8, 8, new CodingResult(1, 0.4, 30, double.NaN), new CodingResult(1, victimBpp, victimPsnr, double.NaN), [])])
            {
                VanillaNeighbours = [new VanillaCurvePoint(2, new CodingMeans(0.3, 29, double.NaN)), new VanillaCurvePoint(4, new CodingMeans(0.6, 31.2, double.NaN))],
            };
        // curve (0.3, 29) - (0.4, 30) - (0.6, 31.2): at 0.45 bpp 30.3 dB; at 29.8 dB 0.38 bpp
        var r = Result(0.45, 29.8);
        Assert.Equal(-0.5, r.CleanPsnrGapAtEqualRate!.Value, 12);
        Assert.Equal((0.45 - 0.38) / 0.38 * 100, r.CleanBppGapAtEqualPsnrPercent!.Value, 10);
        Assert.Equal("; vs the vanilla curve q2-q4: PSNR -0.50 dB at equal bpp, bpp +18.4 % at equal PSNR", AttackReport.CurveNote(r));
        var above = Result(0.7, 31.5);   // beyond q4: no extrapolation
        Assert.Null(above.CleanPsnrGapAtEqualRate);
        Assert.Null(above.CleanBppGapAtEqualPsnrPercent);
        Assert.Equal("; vs the vanilla curve q2-q4: equal bpp outside the curve, equal PSNR outside the curve", AttackReport.CurveNote(above));
        var none = Result(0.45, 29.8) with { VanillaNeighbours = null };
        Assert.Null(none.CleanPsnrGapAtEqualRate);
        Assert.Equal("", AttackReport.CurveNote(none));

        // the curve itself: any order of points, exact at the points, linear between them
        (double, double)[] pts = [(0.6, 31.2), (0.3, 29), (0.4, 30)];
        Assert.Equal(30.0, PiecewiseRdCurve.PsnrAt(pts, 0.4));
        Assert.Equal(29.0, PiecewiseRdCurve.PsnrAt(pts, 0.3));
        Assert.Equal(30.6, PiecewiseRdCurve.PsnrAt(pts, 0.5)!.Value, 12);
        Assert.Equal(0.5, PiecewiseRdCurve.BppAt(pts, 30.6)!.Value, 12);
        Assert.Null(PiecewiseRdCurve.PsnrAt(pts, 0.29));
        Assert.Null(PiecewiseRdCurve.PsnrAt(pts[..1], 0.6));
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
