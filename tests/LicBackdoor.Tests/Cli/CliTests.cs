using LicBackdoor.Imaging;

namespace LicBackdoor.Tests.Cli;

/// <summary>The licb verbs run in-process, as a user would call them.</summary>
public sealed class CliTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-cli-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private string WriteImage(int h, int w)
    {
        var path = Path.Combine(dir, "in.png");
        ImageFile.SavePng(SyntheticImages.Smooth(h, w), path);
        return path;
    }

    [Theory]
    [InlineData("bmshj2018-hyperprior", "1")]
    [InlineData("cheng2020-anchor", "1")]
    public void CompressThenDecompressRoundTrips(string model, string quality)
    {
        var png = WriteImage(70, 90);
        var lic = Path.Combine(dir, "x.lic");
        var outPng = Path.Combine(dir, "out.png");
        var c = Run("compress", png, lic, "--model", model, "--quality", quality);
        Assert.True(c.Code == 0, c.Err);
        Assert.Contains("bpp", c.Out);
        var d = Run("decompress", lic, outPng);
        Assert.True(d.Code == 0, d.Err);
        var img = ImageFile.Load(outPng);
        Assert.Equal(new long[] { 1, 3, 70, 90 }, img.shape);
        // same bytes again: compression is deterministic
        var lic2 = Path.Combine(dir, "y.lic");
        Assert.Equal(0, Run("compress", png, lic2, "--model", model, "--quality", quality).Code);
        Assert.Equal(File.ReadAllBytes(lic), File.ReadAllBytes(lic2));
    }

    [Fact]
    public void BadInputsGiveOneLineErrorsAndNoOutputFiles()
    {
        var png = WriteImage(64, 64);
        var lic = Path.Combine(dir, "x.lic");
        Assert.Equal(0, Run("compress", png, lic).Code);
        var bytes = File.ReadAllBytes(lic);

        var truncated = Path.Combine(dir, "truncated.lic");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var flipped = Path.Combine(dir, "flipped.lic");
        var f = (byte[])bytes.Clone(); f[bytes.Length / 2] ^= 0x10; File.WriteAllBytes(flipped, f);
        var version = Path.Combine(dir, "version.lic");
        var v = (byte[])bytes.Clone(); v[4] = 42; File.WriteAllBytes(version, v);
        var notImage = Path.Combine(dir, "bad.png");
        File.WriteAllText(notImage, "this is not a PNG");

        foreach (var (args, expect) in new (string[], string)[]
                 {
                     (new[] { "decompress", truncated, Path.Combine(dir, "o1.png") }, "truncated.lic"),
                     (new[] { "decompress", flipped, Path.Combine(dir, "o2.png") }, "flipped.lic"),
                     (new[] { "decompress", version, Path.Combine(dir, "o3.png") }, "version 42"),
                     (new[] { "decompress", Path.Combine(dir, "missing.lic"), Path.Combine(dir, "o4.png") }, "missing.lic"),
                     (new[] { "decompress", lic, Path.Combine(dir, "o9.png"), "--max-pixels", "4095" }, "above the decoding cap of 4095 pixels"),
                     (new[] { "compress", notImage, Path.Combine(dir, "o5.lic") }, "bad.png"),
                     (new[] { "compress", Path.Combine(dir, "none.png"), Path.Combine(dir, "o6.lic") }, "none.png"),
                     (new[] { "compress", png, Path.Combine(dir, "o7.lic"), "--quality", "9" }, "quality 9"),
                     (new[] { "compress", png, Path.Combine(dir, "o8.lic"), "--weights", Path.Combine(dir, "nope.safetensors") }, "nope.safetensors"),
                 })
        {
            var r = Run(args);
            Assert.NotEqual(0, r.Code);
            Assert.Contains(expect, r.Err);
            Assert.Single(r.Err.Trim().Split('\n'));
        }
        var left = Directory.GetFiles(dir).Select(Path.GetFileName).Where(n => n!.StartsWith('o') || n.EndsWith(".tmp")).ToList();
        Assert.Empty(left);
    }

    [Fact]
    public void EvalPrintsTableAndWritesJson()
    {
        var images = Directory.CreateDirectory(Path.Combine(dir, "imgs")).FullName;
        ImageFile.SavePng(SyntheticImages.Smooth(192, 192, seed: 1), Path.Combine(images, "a.png"));
        ImageFile.SavePng(SyntheticImages.Smooth(64, 128, seed: 2), Path.Combine(images, "b.png"));
        var json = Path.Combine(dir, "r.json");
        var r = Run("eval", "--images", images, "--quality", "1", "--json", json);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("a.png", r.Out);
        Assert.Contains("mean", r.Out);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(2, doc.RootElement.GetProperty("images").GetArrayLength());
        var first = doc.RootElement.GetProperty("images")[0];
        Assert.True(first.GetProperty("Bpp").GetDouble() > 0);
        Assert.True(first.GetProperty("Psnr").GetDouble() > 0);
        Assert.True(double.IsFinite(first.GetProperty("MsSsim").GetDouble()));
    }

    [Fact]
    public void ZooNamesEachShippedFileWithItsSize()
    {
        var r = Run("zoo");
        Assert.True(r.Code == 0, r.Err);
        var (n, m) = LicBackdoor.Codec.Zoo.ModelZoo.MiniSize("bmshj2018-hyperprior");
        Assert.Contains($"N={n}", r.Out);
        Assert.Contains($"M={m}", r.Out);
        Assert.Contains("seeded init", r.Out); // qualities 5-8 ship nothing
        Assert.Contains("mini-q3", r.Out);
    }
}
