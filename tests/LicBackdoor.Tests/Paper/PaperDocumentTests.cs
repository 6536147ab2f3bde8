using LicBackdoor.Backdoor;
using LicBackdoor.Paper;
using LicBackdoor.Reporting;

namespace LicBackdoor.Tests.Paper;

/// <summary>The generated section of RESULTS.md, the budgets and the runs' cache keys.</summary>
public sealed class PaperDocumentTests
{
    private const string Begin = PaperRunner.BeginMarker, End = PaperRunner.EndMarker;

    [Fact]
    public void ReplaceSectionKeepsTheHandWrittenTextAroundTheMarkers()
    {
        var doc = $"# Results\n\nbefore\n\n{Begin}\nold generated\n{End}\n\nafter\n";
        var updated = ReportDocument.ReplaceSection(doc, Begin, End, "new generated\n");
        Assert.Equal($"# Results\n\nbefore\n\n{Begin}\nnew generated\n{End}\n\nafter\n", updated);
        Assert.Equal(updated, ReportDocument.ReplaceSection(updated, Begin, End, "new generated\n"));   // idempotent
    }

    [Fact]
    public void ReplaceSectionAppendsMarkersWhenTheDocumentHasNone()
    {
        var updated = ReportDocument.ReplaceSection("# Results\n\ntext\n", Begin, End, "generated");
        Assert.Equal($"# Results\n\ntext\n\n{Begin}\ngenerated\n{End}\n", updated);
    }

    [Fact]
    public void ReplaceSectionRefusesBrokenMarkers()
    {
        Assert.Throws<InvalidOperationException>(() => ReportDocument.ReplaceSection($"x\n{Begin}\ny\n", Begin, End, "z"));
        Assert.Throws<InvalidOperationException>(() => ReportDocument.ReplaceSection($"{End}\n{Begin}\n", Begin, End, "z"));
    }

    [Fact]
    public void MarkdownAndHtmlRenderTablesFiguresAndCode()
    {
        ReportBlock[] blocks =
        [
            new ReportHeading(3, "Table 9"),
            new ReportCode("licb paper --table 9"),
            new ReportTableBlock(new ReportTable("", ["", "a|b"], [["row", "1.00"]])),
            new ReportFigure("fig.png", "a `code` caption"),
        ];
        var md = ReportDocument.ToMarkdown(blocks, new ReportRenderOptions { Bold = true, FigurePrefix = "paper/" });
        Assert.Contains("### Table 9\n", md);
        Assert.Contains("```\nlicb paper --table 9\n```\n", md);
        Assert.Contains("|  | a\\|b |\n|---|---:|\n| row | 1.00 |\n", md);
        Assert.Contains("![fig.png](paper/fig.png)", md);
        var html = ReportDocument.ToHtml(blocks, "t", new ReportRenderOptions { Bold = true });
        Assert.Contains("<img src=\"fig.png\"", html);
        Assert.Contains("<code>code</code>", html);
        Assert.Contains("<td>1.00</td>", html);
    }

    [Fact]
    public void TheCacheKeyChangesWithTheBudgetAndTheVanillaWeights()
    {
        var options = new AttackOptions { Model = "bmshj2018-hyperprior", Quality = 3, Objectives = ["bpp"], DataFolders = ["/data/photos"], Steps = 1000 };
        var a = new PaperAttack("x", options);
        Assert.Equal(a.Key("0011"), new PaperAttack("y", options with { CheckpointEvery = 7 }).Key("0011"));   // not part of what a run learns
        Assert.NotEqual(a.Key("0011"), new PaperAttack("x", options with { Steps = 1001 }).Key("0011"));
        Assert.NotEqual(a.Key("0011"), new PaperAttack("x", options with { Trigger = new TriggerSpec(TopK: false) }).Key("0011"));
        Assert.NotEqual(a.Key("0011"), a.Key("0012"));
    }

    [Fact]
    public void TheSegmentationNetEntersTheKeyByItsContentsNotItsPath() => WithDataRoot(dir =>
    {
        string a = Path.Combine(dir, "a.safetensors"), b = Path.Combine(dir, "copy", "b.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(b)!);
        File.WriteAllBytes(a, [1, 2, 3]);
        File.WriteAllBytes(b, [1, 2, 3]);
        var options = new AttackOptions { Model = "bmshj2018-hyperprior", Quality = 3, Objectives = ["seg:car->road"], DataFolders = ["/data/photos"], Steps = 400 };
        string Key(string path) => new PaperAttack("t", options with { SegWeights = path }).Key("0011");
        Assert.Equal(Key(a), Key(b));                                   // same net, another folder (another build)
        File.WriteAllBytes(b, [1, 2, 4]);
        Assert.NotEqual(Key(a), Key(b));                                // other weights
    });

    [Fact]
    public void BudgetsAreNamedAndValidated()
    {
        Assert.Equal(PaperBudget.Full, PaperBudget.Named("full"));
        Assert.Equal(PaperBudget.Tiny, PaperBudget.Named("tiny"));
        Assert.Throws<ArgumentException>(() => PaperBudget.Named("huge"));
        Assert.Throws<ArgumentException>(() => (PaperBudget.Default with { Steps = 0 }).Validate());
        Assert.Throws<ArgumentException>(() => (PaperBudget.Default with { DownstreamBatch = 0 }).Validate());
        Assert.Contains("1000 steps of batch 8 (400 of batch 4 with a segmentation or face objective) (64x64 crops)", PaperBudget.Default.Describe());
        Assert.Contains("seg:car->road,beta=5", PaperBudget.Default.Describe());
        Assert.DoesNotContain("with a segmentation", PaperBudget.Full.Describe());
    }

    [Fact]
    public void DownstreamRunsTakeTheBudgetsDownstreamStepsBatchAndObjectives() => WithDataRoot(root =>
    {
        var planner = new PaperPlanner(PaperBudget.Default, new PaperInputs(root));
        var seg = planner.Options(3, PaperPlanner.Trigger(TriggerSpec.Frequency), [PaperBudget.Default.CarRoadObjective]);
        var face = planner.Options(1, PaperPlanner.Trigger(TriggerSpec.Lira), [PaperBudget.Default.FaceObjective]);
        var bpp = planner.Options(3, PaperPlanner.Trigger(TriggerSpec.Frequency), [PaperBudget.Default.BppObjective]);
        Assert.Equal((400, 4), (seg.Steps, seg.Batch));
        Assert.Equal((400, 4), (face.Steps, face.Batch));
        Assert.Equal((1000, 8), (bpp.Steps, bpp.Batch));
        Assert.Equal(["seg:car->road,beta=5"], seg.Objectives);
        Assert.NotNull(seg.SegWeights);
        Assert.Null(bpp.SegWeights);
    });

    [Fact]
    public void TheDefaultTable4RunsEveryRowOverThreeSeedsAndSeedOneKeepsItsRun() => WithDataRoot(root =>
    {
        var planner = new PaperPlanner(PaperBudget.Default, new PaperInputs(root));
        var plan = new PaperTables(planner).Plan("4");
        Assert.Equal(PaperTables.Table4Rows.Count * 3, plan.Attacks.Count);
        var full = plan.Attacks.Where(a => a.Id.StartsWith("t4-full-q3", StringComparison.Ordinal)).ToList();
        Assert.Equal(["t4-full-q3", "t4-full-q3-s2", "t4-full-q3-s3"], full.Select(a => a.Id));
        Assert.Equal([1UL, 2UL, 3UL], full.Select(a => a.Options.Seed));
        // seed 1 has exactly the single-seed options, so runs made before seeds existed are reused
        var single = new PaperTables(new PaperPlanner(PaperBudget.Default with { AblationSeeds = 1 }, new PaperInputs(root))).Plan("4");
        Assert.Equal(single.Attacks.Single(a => a.Id == "t4-full-q3").Key("00"), full[0].Key("00"));
        Assert.NotEqual(full[0].Key("00"), full[1].Key("00"));
    });

    /// <summary>Runs <paramref name="body"/> with a temporary folder (a data root holding an empty photos/ folder), deleted afterwards.</summary>
    private static void WithDataRoot(Action<string> body)
    {
        var root = Directory.CreateTempSubdirectory("licb-planner-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "photos"));
            body(root);
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
