using System.Text.Json;
using LicBackdoor.Backdoor;
using SkiaSharp;

namespace LicBackdoor.Tests.Backdoor;

[Collection(TinyAttackRunCollection.Name)]
public sealed class AttackReportTests(TinyAttackRun tiny) : TorchTest
{
    [Fact]
    public void ReportWritesJsonMarkdownHtmlFiguresAndGrid()
    {
        var folder = Path.Combine(tiny.Root, "report");
        using var run = AttackRun.Open(tiny.RunDir);
        var result = AttackEvaluation.Evaluate(run, tiny.Images);
        var report = AttackReport.Write(folder, [(run, result)]);

        string[] names = [AttackReport.JsonFile, AttackReport.MarkdownFile, AttackReport.HtmlFile, "rd-bpp.png", "rd-psnr.png", AttackReport.GridFile];
        foreach (var name in names) Assert.True(File.Exists(Path.Combine(folder, name)), name);
        Assert.Equal(names.Order(), report.Files.Select(Path.GetFileName).Order());
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));

        // the console summary: one row per objective
        Assert.Equal(2, report.Summary.Rows.Count);
        Assert.All(report.Summary.Rows, row => Assert.Equal(report.Summary.Columns.Count, row.Count));
        Assert.Equal(new[] { "bpp", "psnr" }, report.Summary.Rows.Select(r => r[1]));

        var md = File.ReadAllText(report.MarkdownPath);
        Assert.Contains("| run | objective | trigger PSNR (dB) | vanilla on x | victim on x | victim on x_p | bpp ratio | vanilla on x_p |", md);
        Assert.Contains("| frequency-q1 | bpp |", md);
        Assert.Contains("![rd-bpp.png](rd-bpp.png)", md);
        Assert.Contains("![grid.png](grid.png)", md);
        Assert.Contains("bit-rate attack, dynamic loss (Eq. 6)", md);        // objective descriptions
        Assert.Contains("| a.png | 64×48 |", md);                           // per-image table
        var html = File.ReadAllText(report.HtmlPath);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("<details>", html);
        Assert.Contains("<img src=\"grid.png\"", html);
        Assert.DoesNotContain("src=\"/", html);                              // relative image paths only
        foreach (var row in report.Summary.Rows)
            foreach (var cell in row)
            {
                Assert.Contains(cell, md);
                Assert.Contains(System.Net.WebUtility.HtmlEncode(cell), html);
            }

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, AttackReport.JsonFile)));
        var first = doc.RootElement.GetProperty("Runs")[0];
        Assert.Equal("frequency-q1", first.GetProperty("Folder").GetString());
        Assert.Equal(1, first.GetProperty("Record").GetProperty("Options").GetProperty("Quality").GetInt32());
        Assert.Equal(2, first.GetProperty("Evaluation").GetProperty("Images").GetArrayLength());
        Assert.True(first.GetProperty("WallSeconds").GetDouble() >= 0);

        // the grid: 5 tiles of 256 px per row, one row per objective, with text drawn in the header band
        using var grid = SKBitmap.Decode(Path.Combine(folder, AttackReport.GridFile));
        Assert.Equal(2 * 12 + 5 * 256 + 4 * 8, grid.Width);
        int dark = 0;
        for (int y = 0; y < 36; y++)
            for (int x = 0; x < grid.Width; x++)
                if (grid.GetPixel(x, y).Red < 128) dark++;
        Assert.True(dark > 50, $"only {dark} dark pixels in the column headers: no text?");
    }

    [Fact]
    public void RdFigureHasOneVictimPoisonedCurvePerTriggerKind()
    {
        using var run = AttackRun.Open(tiny.RunDir);
        var r = AttackEvaluation.Evaluate(run, tiny.Images, limit: 1);
        var lira = r with { Run = "lira-q1", TriggerKind = TriggerSpec.Lira, Trigger = TriggerSpec.Lira };
        var q2 = r with { Run = "frequency-q2", Quality = 2 };

        var single = AttackReport.RdCurves([r, q2], "bpp");
        Assert.Equal(new[] { "vanilla clean", "victim clean", "victim poisoned (frequency)" }, single.Select(c => c.Label));
        Assert.All(single, c => Assert.Equal(new[] { "q1", "q2" }, c.Points.Select(p => p.Setting)));
        Assert.Equal(r.Summary("bpp").Victim.Bpp, single[2].Points[0].Bpp);

        var both = AttackReport.RdCurves([r, lira], "psnr");
        Assert.Equal(new[] { "vanilla clean", "victim clean (frequency)", "victim poisoned (frequency)", "victim clean (lira)", "victim poisoned (lira)" },
                     both.Select(c => c.Label));
        Assert.Single(both[0].Points);
        Assert.Equal(r.Summary("psnr").Victim.Psnr, both[2].Points[0].Psnr);
        Assert.True(both[2].Dashed && !both[1].Dashed);
    }
}
