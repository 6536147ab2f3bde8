using LicBackdoor.Tests.Downstream.Training;

namespace LicBackdoor.Tests.Cli;

/// <summary><c>licb segment train</c> and <c>licb segment --eval --weights</c> on a tiny synthetic CamVid.</summary>
public sealed class SegmentTrainCommandTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-segtraincli-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("enet")]
    [InlineData("resnet")]
    public void TrainsResumesAndEvaluates(string arch)
    {
        var data = TinyCamVid.Create(Path.Combine(dir, "data"));
        var run = Path.Combine(dir, "run");
        string[] common = ["--data", data, "--threads", "2"];
        var r = CliRunner.Run(["segment", "train", "--run", run, "--arch", arch, "--width", "8", "--steps", "4", "--batch", "2",
            "--crop", "32x24", "--scale", "0.8-1.2", "--input-scale", "1", "--validate-every", "2", "--validation-images", "1",
            "--checkpoint-every", "2", "--log-every", "1", .. common]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("step 4 loss", r.Out);
        Assert.Contains("val mIoU", r.Out);
        Assert.Contains("lr", r.Out);
        Assert.True(File.Exists(Path.Combine(run, "model.safetensors")));
        r = CliRunner.Run(["segment", "train", "--run", run, "--resume", "--steps", "6", .. common]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("after 6 steps", r.Out);
        var json = Path.Combine(dir, "eval.json");
        r = CliRunner.Run(["segment", "--eval", "--weights", Path.Combine(run, "model.safetensors"), "--json", json, .. common]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains(arch == "enet" ? "ENet" : "SegResNet", r.Out);
        Assert.Contains("mIoU", r.Out);
        Assert.True(File.Exists(json));
        r = CliRunner.Run(["segment", "--eval", "--weights", Path.Combine(run, "model.safetensors"), "--input-scale", "0.5", .. common]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("scale 0.5", r.Out);
        var png = Path.Combine(dir, "labels.png");
        var image = Directory.GetFiles(Path.Combine(data, "camvid", "test")).First();
        r = CliRunner.Run(["segment", image, "--labels", png, "--weights", Path.Combine(run, "model.safetensors"), .. common]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("48x32", r.Out);
    }

    [Fact]
    public void BadOptionsGiveOneLineErrors()
    {
        var data = TinyCamVid.Create(Path.Combine(dir, "data"));
        string run = Path.Combine(dir, "bad");
        foreach (var args in new[]
                 {
                     new[] { "--crop", "abc" }, ["--scale", "x-1"], ["--arch", "unet"], ["--arch", "enet", "--crop", "30x30"],
                 })
        {
            var r = CliRunner.Run(["segment", "train", "--run", run, "--steps", "1", "--data", data, .. args]);
            Assert.Equal(1, r.Code);
            Assert.StartsWith("licb: error:", r.Err);
        }
        var missing = CliRunner.Run(["segment", "train", "--run", run, "--data", Path.Combine(dir, "nothing")]);
        Assert.Equal(1, missing.Code);
        Assert.Contains("nothing", missing.Err);
        var noRun = CliRunner.Run(["segment", "train", "--run", Path.Combine(dir, "none"), "--resume"]);
        Assert.Equal(1, noRun.Code);
        Assert.Contains("options.json", noRun.Err);
    }
}
