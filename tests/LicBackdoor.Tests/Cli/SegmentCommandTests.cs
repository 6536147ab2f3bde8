using System.Buffers.Binary;
using LicBackdoor.Data;
using LicBackdoor.Imaging;
using LicBackdoor.Tests.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Cli;

/// <summary><c>licb segment</c> in-process, with the published ENet checkpoint from the data folder.</summary>
public sealed class SegmentCommandTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-segment-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run([.. args, "--data", TestPaths.Data]);

    /// <summary>PNG colour type from the IHDR chunk (0 grey, 2 RGB).</summary>
    private static int PngColorType(string path) => File.ReadAllBytes(path)[25];

    [Fact]
    public void SegmentWritesGreyClassMapAndColouredMap()
    {
        var image = CamVid.Open("test", TestPaths.Data).Samples[0].ImagePath;
        string labels = Path.Combine(dir, "labels.png"), color = Path.Combine(dir, "color.png");
        var r = Run("segment", image, "--labels", labels, "--color", color);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("480x360", r.Out);
        Assert.Equal(0, PngColorType(labels));
        Assert.Equal(2, PngColorType(color));
        var bytes = File.ReadAllBytes(labels);
        Assert.Equal(480, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(360, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        using var scope = NewDisposeScope();
        var classes = CamVid.LoadLabels(labels);          // refuses values above 11
        Assert.True(classes.eq(3).sum().item<long>() > 10_000); // plenty of road in a CamVid street scene
        var rgb = ImageFile.Load(color)[0].mul(255).round().to_type(ScalarType.Byte);
        var expected = tensor(CamVid.Colorize(classes), new long[] { 360, 480, 3 }).permute(2, 0, 1);
        Assert.True(rgb.equal(expected).all().item<bool>());
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void EvalPrintsTheTableAndWritesJson()
    {
        var json = Path.Combine(dir, "seg.json");
        var r = Run("segment", "--eval", "--limit", "1", "--json", json);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("mIoU", r.Out);
        Assert.Contains("global accuracy", r.Out);
        Assert.Contains("Road", r.Out);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(1, doc.RootElement.GetProperty("images").GetInt32());
        Assert.Equal("test", doc.RootElement.GetProperty("split").GetString());
        Assert.InRange(doc.RootElement.GetProperty("global_accuracy").GetDouble(), 0.2, 1.0);
        Assert.Equal(11, doc.RootElement.GetProperty("class_iou").EnumerateObject().Count());
    }

    [Fact]
    public void BadInputsGiveOneLineErrors()
    {
        var image = CamVid.Open("test", TestPaths.Data).Samples[0].ImagePath;
        var notWeights = Path.Combine(dir, "notweights.pth");
        File.WriteAllText(notWeights, "not a checkpoint");
        var evil = Path.Combine(dir, "evil.pth");
        CheckpointFiles.Zip(evil, new PickleBytes().Proto().Global("os", "system").Mark().Str("id").TupleEnd().Reduce().Stop().ToArray());
        var outPng = Path.Combine(dir, "out.png");
        foreach (var (args, expect) in new (string[], string)[]
                 {
                     (["segment", Path.Combine(dir, "missing.png"), "--labels", outPng], "missing.png"),
                     (["segment", image], "--labels"),
                     (["segment"], "IMAGE"),
                     (["segment", image, "--labels", outPng, "--weights", notWeights], "notweights.pth"),
                     (["segment", image, "--labels", outPng, "--weights", evil], "os.system"),
                     (["segment", image, "--labels", outPng, "--weights", Path.Combine(dir, "none.pth")], "none.pth"),
                     (["segment", "--eval", "--split", "bogus"], "bogus"),
                     (["segment", "--eval", image], "--eval"),
                 })
        {
            var r = Run(args);
            Assert.True(r.Code != 0, string.Join(" ", args));
            Assert.Contains(expect, r.Err);
            Assert.Single(r.Err.Trim().Split('\n'));
        }
        Assert.False(File.Exists(outPng));
    }
}
