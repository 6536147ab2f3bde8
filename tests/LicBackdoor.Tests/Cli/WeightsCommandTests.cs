using LicBackdoor.Codec.Zoo;

namespace LicBackdoor.Tests.Cli;

public sealed class WeightsCommandTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-weights-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static int[] Ints(TorchSharp.torch.Tensor t) => t.to_type(TorchSharp.torch.ScalarType.Int32).contiguous().data<int>().ToArray();

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
        var maskA = ((LicBackdoor.Codec.Models.Cheng2020Anchor)a.Model).ContextPrediction.Mask;
        var maskB = ((LicBackdoor.Codec.Models.Cheng2020Anchor)b.Model).ContextPrediction.Mask;
        Assert.True(maskA.equal(maskB).all().item<bool>());
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
    public void ConvertKeepsASafetensorsFilesMetadataAndItsFirstSource()
    {
        var first = Path.Combine(dir, "first.safetensors");
        var second = Path.Combine(dir, "second.safetensors");
        var third = Path.Combine(dir, "third.safetensors");
        LicBackdoor.Weights.Safetensors.Save(first, new Dictionary<string, TorchSharp.torch.Tensor> { ["w.weight"] = TorchSharp.torch.ones(2, 3) },
            new Dictionary<string, string> { ["licb.train"] = "q3, 1000 steps" });
        Assert.Equal(0, Run("weights", "convert", first, second, "--half").Code);
        Assert.Equal(0, Run("weights", "convert", second, third).Code);
        var (tensors, meta) = LicBackdoor.Weights.Safetensors.Load(third);
        Assert.Equal("q3, 1000 steps", meta["licb.train"]);
        Assert.Equal("first.safetensors", meta["licb.source"]);
        Assert.Equal(TorchSharp.torch.ScalarType.Float16, tensors["w.weight"].dtype);
    }

    [Fact]
    public void DroppedGaussianTablesAreRebuiltBitExactlyOnLoad()
    {
        // cheng2020-anchor: its context_prediction.mask (a fixed 0/1 pattern) is dropped too, and its Gaussian tables are 64 levels.
        var src = Path.Combine(TestPaths.Fixtures, "cheng2020-anchor-n32-legacy.pth.tar");
        var full = Path.Combine(dir, "full.safetensors");
        var compact = Path.Combine(dir, "compact.safetensors");
        Assert.Equal(0, Run("weights", "convert", src, full, "--compressai-keys", "--half").Code);
        var r = Run("weights", "convert", full, compact, "--half", "--drop-tables");
        Assert.True(r.Code == 0, r.Err);
        var t = LicBackdoor.Weights.Safetensors.Load(compact).Tensors;
        Assert.Equal(0, t["gaussian_conditional._quantized_cdf"].numel());
        Assert.Equal(0, t["gaussian_conditional._offset"].numel());
        Assert.Equal(64, t["gaussian_conditional.scale_table"].numel());
        Assert.True(t["entropy_bottleneck._quantized_cdf"].numel() > 0); // its tables depend on float maths of learned parameters: kept
        Assert.Equal(0, t["context_prediction.mask"].numel());   // a fixed pattern of the kernel's shape: rebuilt on load
        Assert.True(new FileInfo(compact).Length < new FileInfo(full).Length);

        var a = ModelStore.Open("cheng2020-anchor", 3, full);
        var b = ModelStore.Open("cheng2020-anchor", 3, compact);
        Assert.Equal(Ints(a.Model.GaussianConditional.QuantizedCdfs), Ints(b.Model.GaussianConditional.QuantizedCdfs));
        Assert.Equal(Ints(a.Model.GaussianConditional.Offsets), Ints(b.Model.GaussianConditional.Offsets));
        Assert.Equal(Ints(a.Model.GaussianConditional.CdfLengths), Ints(b.Model.GaussianConditional.CdfLengths));
        var x = SyntheticImages.Smooth(64, 64);
        Assert.Equal(a.Model.Compress(x).YStrings[0], b.Model.Compress(x).YStrings[0]);
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        var maskA = ((LicBackdoor.Codec.Models.Cheng2020Anchor)a.Model).ContextPrediction.Mask;
        var maskB = ((LicBackdoor.Codec.Models.Cheng2020Anchor)b.Model).ContextPrediction.Mask;
        Assert.True(maskA.equal(maskB).all().item<bool>());
    }

    [Fact]
    public void DroppedTablesOfAFinerScaleTableComeBackWithThatTable()
    {
        var model = new LicBackdoor.Codec.Models.ScaleHyperprior(8, 12);
        model.Update(force: true, LicBackdoor.Codec.Entropy.GaussianConditional.ScaleTableWithLevels(192));
        var full = Path.Combine(dir, "fine.safetensors");
        var compact = Path.Combine(dir, "fine-compact.safetensors");
        ModelStore.Save(model, 3, full);
        var r = Run("weights", "convert", full, compact, "--drop-tables");
        Assert.True(r.Code == 0, r.Err);
        var loaded = ModelStore.Open("bmshj2018-hyperprior", 3, compact).Model.GaussianConditional;
        Assert.Equal(192, loaded.ScaleTable.numel());
        Assert.Equal(Ints(model.GaussianConditional.QuantizedCdfs), Ints(loaded.QuantizedCdfs));
        Assert.Equal(Ints(model.GaussianConditional.CdfLengths), Ints(loaded.CdfLengths));
    }

    [Fact]
    public void TablesWithoutTheirScaleTableAreNotDroppedAndHostileTablesAreRefused()
    {
        var model = new LicBackdoor.Codec.Models.ScaleHyperprior(8, 12);
        model.Update(force: true);
        var sd = model.state_dict();
        sd["gaussian_conditional.scale_table"] = TorchSharp.torch.zeros(0);
        Assert.Throws<ArgumentException>(() => LicBackdoor.Weights.WeightsFile.DropGaussianTables(sd));

        // A scale table far longer than any real one, with its tables dropped: a clear error naming the file, not gigabytes of tables.
        var hostile = LicBackdoor.Weights.WeightsFile.DropGaussianTables(model.state_dict());
        hostile["gaussian_conditional.scale_table"] = TorchSharp.torch.linspace(0.11, 256, 100_000);
        var path = Path.Combine(dir, "hostile.safetensors");
        LicBackdoor.Weights.Safetensors.Save(path, hostile);
        var e = Assert.ThrowsAny<Exception>(() => ModelStore.Open("bmshj2018-hyperprior", 3, path));
        Assert.Contains("hostile.safetensors", e.Message);
        Assert.Contains("levels", e.Message);
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
