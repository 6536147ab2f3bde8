using LicBackdoor.Codec.Zoo;

namespace LicBackdoor.Tests.Cli;

public sealed class WeightsCommandTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-weights-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("hyperprior-n32m48.pth.tar", "TorchZip")]
    [InlineData("hyperprior-n32m48-legacy.pth.tar", "TorchLegacy")]
    public void InspectListsTensorsOfPyTorchFiles(string file, string format)
    {
        var r = Run("weights", "inspect", Path.Combine(TestPaths.Fixtures, file));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains(format, r.Out);
        Assert.Contains("g_a.0.weight", r.Out);
        Assert.Contains("[32, 3, 5, 5]", r.Out);
    }

    [Fact]
    public void InspectReadsTfJsManifests()
    {
        var manifest = Directory.GetFiles(Path.Combine(TestPaths.Data, "models", "face-recognition"), "*.json")[0];
        var r = Run("weights", "inspect", manifest);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("TfJsManifest", r.Out);
    }

    [Fact]
    public void ConvertedCompressAiCheckpointCodesIdentically()
    {
        var src = Path.Combine(TestPaths.Fixtures, "cheng2020-anchor-n32-legacy.pth.tar");
        var dst = Path.Combine(dir, "c.safetensors");
        var r = Run("weights", "convert", src, dst, "--compressai-keys");
        Assert.True(r.Code == 0, r.Err);
        var a = ModelStore.Open("cheng2020-anchor", 3, src);
        var b = ModelStore.Open("cheng2020-anchor", 3, dst);
        var x = SyntheticImages.Smooth(64, 64);
        Assert.Equal(a.Model.Compress(x).YStrings[0], b.Model.Compress(x).YStrings[0]);
        Assert.Equal(a.Fingerprint, b.Fingerprint);
    }

    [Fact]
    public void HalfPrecisionShippingKeepsEntropyModelsInFloat32AndStillCodes()
    {
        var src = Path.Combine(TestPaths.Fixtures, "hyperprior-n32m48.pth.tar");
        var full = Path.Combine(dir, "full.safetensors");
        var half = Path.Combine(dir, "half.safetensors");
        Assert.Equal(0, Run("weights", "convert", src, full, "--compressai-keys").Code);
        Assert.Equal(0, Run("weights", "convert", full, half, "--half").Code);
        Assert.True(new FileInfo(half).Length < new FileInfo(full).Length * 0.7);
        var t = LicBackdoor.Weights.Safetensors.Load(half).Tensors;
        Assert.Equal(TorchSharp.torch.ScalarType.Float16, t["g_a.0.weight"].dtype);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, t["entropy_bottleneck.quantiles"].dtype);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, t["g_a.1.beta_reparam.pedestal"].dtype);
        var codec = ModelStore.Open("bmshj2018-hyperprior", 3, half);
        var x = SyntheticImages.Smooth(64, 64);
        var xHat = codec.Model.Decompress(codec.Model.Compress(x));
        Assert.Equal(x.shape, xHat.shape);
    }

    [Fact]
    public void BadFilesGiveOneLineErrors()
    {
        var junk = Path.Combine(dir, "junk.bin");
        File.WriteAllBytes(junk, new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2 });
        foreach (var path in new[] { junk, Path.Combine(dir, "missing.pth") })
        {
            var r = Run("weights", "inspect", path);
            Assert.NotEqual(0, r.Code);
            Assert.Contains(Path.GetFileName(path), r.Err);
        }
    }
}
