using LicBackdoor.Imaging;
using LicBackdoor.Runtime;

namespace LicBackdoor.Tests.Cli;

/// <summary>
/// <c>licb paper --budget tiny --table 1 --table 4 --table 5</c> once on a synthetic data root (2 small Kodak stand-ins,
/// 3 training images, no segmentation or face data), shared by the tests below.
/// </summary>
public sealed class TinyPaperOutput : IDisposable
{
    public TinyPaperOutput()
    {
        NativeSetup.Initialize();
        Root = Directory.CreateTempSubdirectory("licb-paper-").FullName;
        Data = Directory.CreateDirectory(Path.Combine(Root, "data")).FullName;
        var photos = Directory.CreateDirectory(Path.Combine(Data, "photos")).FullName;
        for (int i = 0; i < 3; i++) ImageFile.SavePng(SyntheticImages.Smooth(64, 64, seed: 20 + i), Path.Combine(photos, $"p{i}.png"));
        var kodak = Directory.CreateDirectory(Path.Combine(Data, "kodak")).FullName;
        ImageFile.SavePng(SyntheticImages.Smooth(48, 64, seed: 5), Path.Combine(kodak, "k1.png"));
        ImageFile.SavePng(SyntheticImages.Smooth(64, 80, seed: 6), Path.Combine(kodak, "k2.png"));
        Out = Path.Combine(Root, "out");
        Results = Path.Combine(Root, "docs", "RESULTS.md");
        Directory.CreateDirectory(Path.GetDirectoryName(Results)!);
        File.WriteAllText(Results, "# Results\n\nHand-written text before.\n");
        First = Run("--table", "1", "--table", "4", "--table", "5");
    }

    public string Root { get; }
    public string Data { get; }
    public string Out { get; }
    public string Results { get; }
    public (int Code, string Out, string Err) First { get; }

    /// <summary>Runs <c>licb paper</c> on the tiny budget and this data root with a missing segmentation net.</summary>
    public (int Code, string Out, string Err) Run(params string[] args) =>
        CliRunner.Run(["--data", Data, "paper", "--budget", "tiny", "--out", Out, "--results", Results,
                       "--seg-weights", Path.Combine(Root, "missing-enet.safetensors"), .. args]);

    /// <summary>Every output file (report, figures, results) with its bytes.</summary>
    public Dictionary<string, byte[]> Outputs() =>
        Directory.GetFiles(Out).Concat(Directory.GetFiles(Path.GetDirectoryName(Results)!, "*", SearchOption.AllDirectories))
            .ToDictionary(f => f, File.ReadAllBytes);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary><c>licb paper</c> on the tiny budget: it completes, caches, invalidates on a changed budget, and reports missing data.</summary>
public sealed class PaperCommandTests(TinyPaperOutput tiny) : TorchTest, IClassFixture<TinyPaperOutput>
{
    [Fact]
    public void TheTinyRunCompletesAndWritesTheReport()
    {
        Assert.True(tiny.First.Code == 0, tiny.First.Err + tiny.First.Out);
        Assert.Contains("budget 'tiny'", tiny.First.Out.Split('\n')[0]);          // the budget is stated up front
        Assert.Contains("trained 9 runs, computed 9 evaluations and 2 defence evaluations", tiny.First.Out);
        var md = File.ReadAllText(Path.Combine(tiny.Out, "paper.md"));
        Assert.Contains("| full model, K=16, N=64 (Eq. 6) |", md);
        Assert.Contains("| attack PSNR ↓, frequency: measured |", md);
        Assert.Contains("issue #7 (Table 4): dynamic loss (Eq. 6) ≥ static loss (Eq. 4) on poisoned bpp: ", md);
        Assert.Contains("issue #7 (Table 5): frequency trigger more robust than LIRA under squeeze:3", md);
        Assert.Contains("Table 6: not measured in this output folder yet", md);   // not requested: never computed
        Assert.Contains("<h3>Table 4: ablations of the bit-rate attack</h3>", File.ReadAllText(Path.Combine(tiny.Out, "report.html")));
        var results = File.ReadAllText(tiny.Results);
        Assert.StartsWith("# Results\n\nHand-written text before.\n\n<!-- licb paper: begin", results);
        Assert.EndsWith("<!-- licb paper: end -->\n", results);
        Assert.Contains("![fig5-psnr-attack.png](paper/fig5-psnr-attack.png)", results);   // tiny: q1 is both Fig. 5's quality and Table 5's
        Assert.True(new FileInfo(Path.Combine(Path.GetDirectoryName(tiny.Results)!, "paper", "fig5-psnr-attack.png")).Length > 10_000);
    }

    [Fact]
    public void MissingSegmentationWeightsGiveNotRunInsteadOfAFailure()
    {
        Assert.Equal(0, tiny.First.Code);
        Assert.Contains("Table 1: not run: segmentation net weights not found", tiny.First.Out);
        Assert.Contains("**Not run: segmentation net weights not found", File.ReadAllText(Path.Combine(tiny.Out, "paper.md")));
    }

    [Fact]
    public void ASecondRunIsFullyCachedAndRewritesIdenticalBytes()
    {
        var before = tiny.Outputs();
        var again = tiny.Run("--table", "1", "--table", "4", "--table", "5");
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("trained 0 runs, computed 0 evaluations and 0 defence evaluations", again.Out);
        var after = tiny.Outputs();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (file, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[file]), $"{file} changed");
    }

    [Fact]
    public void AChangedBudgetMakesNewRunsAndKeepsTheOldOnes()
    {
        var runs = Path.Combine(tiny.Out, "runs");
        var before = Directory.GetDirectories(runs).ToHashSet();
        var r = CliRunner.Run("--data", tiny.Data, "paper", "--budget", "tiny", "--table", "5", "--steps", "3", "--results", "none", "--out", Path.Combine(tiny.Root, "out3"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("budget 'tiny with --steps 3'", r.Out);
        Assert.Contains("trained 2 runs", r.Out);
        // the same experiment under the old budget in the old folder is untouched, and its key differs
        Assert.Equal(before, Directory.GetDirectories(runs).ToHashSet());
        var names = Directory.GetDirectories(Path.Combine(tiny.Root, "out3", "runs")).Select(Path.GetFileName).ToList();
        Assert.Equal(2, names.Count);
        Assert.DoesNotContain(names, n => before.Select(Path.GetFileName).Contains(n));
    }

    [Fact]
    public void NothingToComputeIsAUsageError()
    {
        var r = CliRunner.Run("paper", "--budget", "tiny", "--results", "none", "--out", Path.Combine(tiny.Root, "none"));
        Assert.Equal(1, r.Code);
        Assert.Contains("--table N", r.Err);
    }
}
