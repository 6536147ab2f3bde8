using LicBackdoor.Evaluation;
using LicBackdoor.Reporting;
using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary>Console tables for the CLI verbs.</summary>
internal static class Reports
{
    public static void PrintEvaluation(CodecEvaluationReport report)
    {
        var table = new Table().Title(Markup.Escape($"{report.Model} q{report.Quality} ({report.Weights}, {report.Threads} threads)"))
            .AddColumns("image", "size", "bytes", "bpp", "est. bpp", "PSNR (dB)", "MS-SSIM", "enc (s)", "dec (s)");
        foreach (var r in report.Images)
            table.AddRow(Markup.Escape(r.Image), $"{r.Width}x{r.Height}", r.Bytes.ToString(), r.Bpp.ToString("F4"), r.EstimatedBpp.ToString("F4"),
                r.Psnr.ToString("F3"), r.MsSsim.ToString("F4"), r.EncodeSeconds.ToString("F3"), r.DecodeSeconds.ToString("F3"));
        table.AddRow("[bold]mean[/]", "", "", report.MeanBpp.ToString("F4"), report.MeanEstimatedBpp.ToString("F4"),
            report.MeanPsnr.ToString("F3"), report.MeanMsSsim.ToString("F4"), report.MeanEncodeSeconds.ToString("F3"), report.MeanDecodeSeconds.ToString("F3"));
        var console = Terminal.Current();
        console.Write(table);
        console.MarkupLine($"real vs estimated bpp gap: {report.BppGap * 100:F2} % (forward-pass estimate, CompressAI's convention); vs the likelihood of the coded symbols: {report.CodedBppGap * 100:F2} %");
    }

    /// <summary>Prints a library <see cref="ReportTable"/>.</summary>
    public static void PrintTable(ReportTable model)
    {
        var table = new Table().Title(Markup.Escape(model.Title));
        foreach (var c in model.Columns) table.AddColumn(new TableColumn(Markup.Escape(c)).RightAligned());
        if (table.Columns.Count > 0) table.Columns[0].LeftAligned();
        foreach (var row in model.Rows) table.AddRow(row.Select(Markup.Escape).ToArray());
        Terminal.Current().Write(table);
    }
}
