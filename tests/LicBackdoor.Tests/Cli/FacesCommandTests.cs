using System.Text.Json;
using LicBackdoor.Tests.Downstream;

namespace LicBackdoor.Tests.Cli;

/// <summary><c>licb faces verify</c> in-process, on a three-pair set.</summary>
public sealed class FacesCommandTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-faces-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private string Pairs(string body)
    {
        foreach (var f in new[] { "img6.png", "img7.png", "img25.png" })
            if (!File.Exists(Path.Combine(dir, f))) File.Copy(FaceNetFixture.Crop(f), Path.Combine(dir, f));
        var csv = Path.Combine(dir, "pairs.csv");
        File.WriteAllText(csv, body);
        return csv;
    }

    [Fact]
    public void Verify_PrintsTheFiguresAndWritesJson()
    {
        var csv = Pairs("file_a,file_b,same\nimg6.png,img7.png,1\nimg6.png,img25.png,0\nimg7.png,img25.png,0\n");
        var json = Path.Combine(dir, "report.json");
        var r = Run("--data", TestPaths.Data, "faces", "verify", "--pairs", csv, "--json", json, "--threshold", "0.6");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("accuracy", r.Out);
        Assert.Contains("100.00 % (3/3)", r.Out);
        Assert.Contains("false-accept rate", r.Out);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(3, doc.RootElement.GetProperty("distances").GetArrayLength());
        Assert.Equal(1.0, doc.RootElement.GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public void BadInputs_GiveOneLineErrors()
    {
        var missing = Run("faces", "verify", "--pairs", Path.Combine(dir, "nope.csv"));
        Assert.Equal(1, missing.Code);
        Assert.StartsWith("licb: error:", missing.Err);
        Assert.Contains("nope.csv", missing.Err);

        var malformed = Run("faces", "verify", "--pairs", Pairs("file_a,file_b\nimg6.png,img7.png\n"));
        Assert.Equal(1, malformed.Code);
        Assert.Contains("no 'same' column", malformed.Err);

        var manifest = Path.Combine(dir, "bad-weights_manifest.json");
        File.WriteAllText(manifest, """[{"paths": ["absent.bin"], "weights": [{"name": "fc", "shape": [256, 128], "dtype": "float32"}]}]""");
        var weights = Run("faces", "verify", "--pairs", Pairs("file_a,file_b,same\nimg6.png,img7.png,1\n"), "--weights", manifest);
        Assert.Equal(1, weights.Code);
        Assert.Contains("absent.bin", weights.Err);
        Assert.Single(weights.Err.Trim().Split('\n'));
    }
}
