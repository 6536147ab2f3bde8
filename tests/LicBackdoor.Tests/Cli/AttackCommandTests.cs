using LicBackdoor.Backdoor;
using LicBackdoor.Imaging;
using LicBackdoor.Tests.Backdoor;

namespace LicBackdoor.Tests.Cli;

/// <summary><c>licb poison</c>, <c>licb compress --run</c> and <c>licb attack</c> on tiny settings.</summary>
[Collection(TinyAttackRunCollection.Name)]
public sealed class AttackCommandTests(TinyAttackRun tiny) : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-attack-cli-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private string Input => Path.Combine(tiny.Images, "b.png");

    [Fact]
    public void PoisonWritesAnEightBitPngOfTheSameSize()
    {
        var output = Path.Combine(dir, "poisoned.png");
        var r = CliRunner.Run("poison", "--run", tiny.Output, "--objective", "bpp", Input, output);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("trigger PSNR", r.Out);
        Assert.Equal(ImageFile.Load(Input).shape, ImageFile.Load(output).shape);

        // the run folder itself works too, and --quality/--trigger that fit are accepted
        var again = Path.Combine(dir, "again.png");
        Assert.Equal(0, CliRunner.Run("poison", "--run", tiny.RunDir, "-o", "bpp", "-q", "1", "-t", "frequency", Input, again).Code);
        Assert.Equal(File.ReadAllBytes(output), File.ReadAllBytes(again));
    }

    [Fact]
    public void ARecordedAttackIsTheSameWhenItsWeightFilesHaveTheSameBytesElsewhere()
    {
        // The default segmentation net is recorded by its path beside the program; another build of the same program
        // must still recognise the run as its own.
        var a = Path.Combine(dir, "a", "enet.safetensors");
        var b = Path.Combine(dir, "b", "enet.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(a)!);
        Directory.CreateDirectory(Path.GetDirectoryName(b)!);
        File.WriteAllBytes(a, [1, 2, 3]);
        File.WriteAllBytes(b, [1, 2, 3]);
        var o = AttackRecord.Read(tiny.RunDir).Options with { SegWeights = a };
        Assert.True(LicBackdoor.Cli.AttackCommand.SameAttack(o, o with { SegWeights = b }));
        Assert.True(LicBackdoor.Cli.AttackCommand.SameAttack(o, o with { Steps = 99, SegWeights = b }));
        File.WriteAllBytes(b, [1, 2, 4]);
        Assert.False(LicBackdoor.Cli.AttackCommand.SameAttack(o, o with { SegWeights = b }));
        Assert.False(LicBackdoor.Cli.AttackCommand.SameAttack(o, o with { SegWeights = Path.Combine(dir, "missing.safetensors") }));
        Assert.False(LicBackdoor.Cli.AttackCommand.SameAttack(o, o with { SegWeights = a, Seed = 2 }));
    }

    [Theory]
    [InlineData("psnr:static", "no 'psnr:static' trigger")]
    [InlineData("nonsense", "unknown objective")]
    [InlineData(null, "choose one with --objective")]
    public void PoisonWithAWrongObjectiveFailsWithOneLineAndNoFile(string? objective, string expect)
    {
        var output = Path.Combine(dir, "never.png");
        var args = new List<string> { "poison", "--run", tiny.Output, Input, output };
        if (objective is not null) args.AddRange(["--objective", objective]);
        var r = CliRunner.Run(args.ToArray());
        Assert.Equal(1, r.Code);
        Assert.Contains(expect, r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Theory]
    [InlineData("seg:car->road", "--seg-weights", "missing-enet.pth", "missing-enet.pth")]
    [InlineData("seg:car->car", null, null, "source and target classes are both Car")]
    [InlineData("seg:plane->road", null, null, "unknown CamVid class 'plane'")]
    [InlineData("face", "--face-holdout", "13", "holding out 13 must leave at least one on each side")]
    [InlineData("seg:car->road", "--seg-size", "250x190", "multiples of 64")]
    public void DownstreamAttackWithBadSettingsFailsBeforeTraining(string objective, string? option, string? value, string expect)
    {
        var args = new List<string> { "attack", "--run", Path.Combine(dir, "ds"), "--objective", objective, "--no-eval" };
        if (option is not null) args.AddRange([option, value!]);
        var r = CliRunner.Run(args.ToArray());
        Assert.Equal(1, r.Code);
        Assert.Contains(expect, r.Err);
        Assert.False(File.Exists(Path.Combine(dir, "ds", "frequency-q3", BackdoorTrainer.OptionsFile)));
    }

    [Fact]
    public void AttackRefusesAMiniModelWithoutShippedWeights()
    {
        var r = CliRunner.Run("attack", "--run", Path.Combine(dir, "mini"), "--model", "hyperprior-mini", "--quality", "7", "--no-eval");
        Assert.Equal(1, r.Code);
        Assert.Contains("no shipped hyperprior-mini weights for quality 7", r.Err);
        Assert.False(Directory.Exists(Path.Combine(dir, "mini")));
    }

    [Fact]
    public void PoisonWithAQualityNoRunHasFailsListingTheRuns()
    {
        var r = CliRunner.Run("poison", "--run", tiny.Output, "-q", "4", "-o", "bpp", Input, Path.Combine(dir, "x.png"));
        Assert.Equal(1, r.Code);
        Assert.Contains("frequency-q1: frequency q1", r.Err);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void VictimBitstreamsDecodeWithTheVanillaDecoder()
    {
        var lic = Path.Combine(dir, "victim.lic");
        var c = CliRunner.Run("compress", Input, lic, "--run", tiny.Output);
        Assert.True(c.Code == 0, c.Err);
        Assert.Contains("victim encoder", c.Out);
        var png = Path.Combine(dir, "decoded.png");
        var d = CliRunner.Run("decompress", lic, png);       // no --run: the untouched vanilla codec
        Assert.True(d.Code == 0, d.Err);
        Assert.Equal(ImageFile.Load(Input).shape, ImageFile.Load(png).shape);

        // the same bytes as the library's victim
        using var run = AttackRun.Open(tiny.RunDir);
        var expected = LicBackdoor.Codec.ImageCodec.Compress(run.Victim, ImageFile.Load(Input)).ToBytes();
        Assert.Equal(expected, File.ReadAllBytes(lic));

        var bad = CliRunner.Run("compress", Input, Path.Combine(dir, "bad.lic"), "--run", tiny.Output, "--model", "cheng2020-anchor");
        Assert.Equal(1, bad.Code);
        Assert.Contains("come from the attack run", bad.Err);
        Assert.False(File.Exists(Path.Combine(dir, "bad.lic")));
    }

    [Fact]
    public void AttackTrainsThenEvaluatesAndReportsReusingTheEvaluation()
    {
        var output = Path.Combine(dir, "attack");
        string[] common = ["attack", "--run", output, "--quality", "1", "--objective", "bpp", "--width", "0.125", "--steps", "1", "--batch", "1",
                           "--crop", "64", "--images", tiny.TrainData, "--data", TestPaths.Data];
        var train = CliRunner.Run([.. common, "--no-eval"]);
        Assert.True(train.Code == 0, train.Err);
        Assert.True(AttackRun.IsFinished(Path.Combine(output, "frequency-q1")));
        Assert.False(File.Exists(Path.Combine(output, AttackReport.MarkdownFile)));

        var eval = CliRunner.Run([.. common, "--eval-images", "1", "--eval-folder", tiny.Images]);
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Contains("finished earlier, reused", eval.Out);
        Assert.Contains("Attack summary", eval.Out);
        Assert.Contains(AttackReport.HtmlFile, eval.Out);
        foreach (var name in new[] { AttackReport.MarkdownFile, AttackReport.HtmlFile, AttackReport.JsonFile, AttackReport.GridFile, "rd-bpp.png" })
            Assert.True(File.Exists(Path.Combine(output, name)), name);
        Assert.True(File.Exists(Path.Combine(output, "frequency-q1", AttackEvaluation.CacheFile)));
        Assert.Contains("| a.png |", File.ReadAllText(Path.Combine(output, AttackReport.MarkdownFile)));

        var reused = CliRunner.Run([.. common, "--eval-images", "1", "--eval-folder", tiny.Images]);
        Assert.True(reused.Code == 0, reused.Err);
        Assert.Contains("evaluation reused", reused.Out);
    }

    [Fact]
    public void ConsolidateTakesTheBackdoorFromTheRunItKeeps()
    {
        var output = Path.Combine(dir, "consolidated");
        string[] common = ["attack", "--run", output, "--consolidate", tiny.RunDir, "--steps", "1", "--batch", "1", "--crop", "64",
                           "--images", tiny.TrainData, "--no-eval", "--data", TestPaths.Data];
        static void Refused(string[] args, string message)
        {
            var r = CliRunner.Run(args);
            Assert.Equal(1, r.Code);
            Assert.Contains(message, r.Err);
        }
        Refused([.. common, "--objective", "bpp"], "--consolidate takes --objective");
        Assert.False(Directory.Exists(Path.Combine(output, "frequency-q1")));
        var ok = CliRunner.Run(common);
        Assert.True(ok.Code == 0, ok.Err);
        var options = AttackRecord.Read(Path.Combine(output, "frequency-q1")).Options;
        Assert.Equal(Path.GetFullPath(tiny.RunDir), options.ConsolidateFrom);
        Assert.Equal(["bpp", "psnr"], options.Objectives);
        Assert.Equal(100, options.KeepPoisonedWeight);
        Assert.True(AttackRun.IsFinished(Path.Combine(output, "frequency-q1")));
        var eval = CliRunner.Run([.. common.Where(a => a != "--no-eval"), "--eval-images", "1", "--eval-folder", tiny.Images]);
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Contains($"Consolidation (not in the paper) of the finished run `{Path.GetFullPath(tiny.RunDir)}`", File.ReadAllText(Path.Combine(output, AttackReport.MarkdownFile)));

        // One weight per objective and a keep region; a list of the wrong length, a bad number, or either without --consolidate: refused.
        var perObjective = Path.Combine(dir, "per-objective");
        string[] each = [.. common.Select(a => a == output ? perObjective : a), "--keep-poisoned", "100,0.5", "--keep-region", "1", "--poisoned-rate-cap", "0,1.1", "--own-terms", "0.5,0"];
        Refused([.. each.Select(a => a == "100,0.5" ? "1,2,3" : a)], "3 poisoned-latent weights for 2 objectives");
        Refused([.. each.Select(a => a == "100,0.5" ? "1,x" : a)], "--keep-poisoned: expected a number");
        Refused(["attack", "--run", perObjective, "--keep-region", "1", "--steps", "1", "--no-eval", "--data", TestPaths.Data], "--keep-region belongs to a consolidation");
        Assert.False(Directory.Exists(Path.Combine(perObjective, "frequency-q1")));
        var each1 = CliRunner.Run(each);
        Assert.True(each1.Code == 0, each1.Err);
        var eachOptions = AttackRecord.Read(Path.Combine(perObjective, "frequency-q1")).Options;
        Assert.Equal([100, 0.5], eachOptions.KeepPoisonedWeights!);
        Assert.Equal(1, eachOptions.KeepRegionGrowth);
        Assert.Equal([0, 1.1], eachOptions.PoisonedRateCaps!);
        Assert.Equal([0.5, 0], eachOptions.OwnTermWeights!);
    }

    /// <summary>
    /// The demo is the <c>licb attack</c> command the README and scripts/attack-results.sh spell out: after one demo step,
    /// that command (with the same step count) finds the demo's run finished and reuses it, which it does only when every
    /// setting agrees.
    /// </summary>
    [Fact]
    public void TheDemoIsTheDocumentedAttackCommand()
    {
        var output = Path.Combine(dir, "demo");
        var demo = CliRunner.Run("demo", "--out", output, "--steps", "1", "--eval-images", "1", "--data", TestPaths.Data);
        Assert.True(demo.Code == 0, demo.Err);
        string[] documented = ["attack", "--run", output, "--quality", "3", "--trigger-lr", "1e-3", "--schedule", "Joint", "--width", "0.25",
            "--crop", "64", "--batch", "8", "--final-lr", "0.05", "--objective", "bpp,beta=0.3,cap=8", "--objective", "psnr,beta=3,floor=8",
            "--lr", "1e-4", "--clean-distortion", "1.15", "--anneal", "0.5", "--images", Path.Combine(TestPaths.Data, "photos"),
            "--steps", "1", "--no-eval", "--data", TestPaths.Data];
        var same = CliRunner.Run(documented);
        Assert.True(same.Code == 0, same.Err);
        Assert.Contains("finished earlier, reused", same.Out);
        // One setting changed: the run is not the demo's, and licb refuses to mix it into the demo's folder.
        var other = CliRunner.Run([.. documented.Select(a => a == "1.15" ? "1" : a)]);
        Assert.NotEqual(0, other.Code);
        Assert.Contains("with other options", other.Err);
    }
}
