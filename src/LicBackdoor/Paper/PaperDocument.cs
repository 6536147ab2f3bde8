using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using LicBackdoor.Backdoor;

namespace LicBackdoor.Paper;

/// <summary>A block of the paper report: rendered both as Markdown (the section of docs/RESULTS.md) and as HTML.</summary>
public abstract record PaperBlock;

/// <summary>A heading (level 2 = a section of the generated Markdown, which sits under RESULTS.md's own level-2 headings).</summary>
public sealed record PaperHeading(int Level, string Text) : PaperBlock;

/// <summary>A paragraph (inline `code` spans allowed).</summary>
public sealed record PaperParagraph(string Text) : PaperBlock;

/// <summary>A bulleted list.</summary>
public sealed record PaperBullets(IReadOnlyList<string> Items) : PaperBlock;

/// <summary>A table.</summary>
public sealed record PaperTableBlock(ReportTable Table) : PaperBlock;

/// <summary>A figure: a file relative to the document, and its caption.</summary>
public sealed record PaperFigure(string File, string Caption) : PaperBlock;

/// <summary>A command line shown as a code block.</summary>
public sealed record PaperCode(string Text) : PaperBlock;

/// <summary>Renders <see cref="PaperBlock"/>s to Markdown and to a self-contained HTML page.</summary>
public static partial class PaperDocument
{
    /// <summary>Markdown; figure paths are prefixed with <paramref name="figurePrefix"/> (e.g. <c>paper/</c>).</summary>
    public static string ToMarkdown(IEnumerable<PaperBlock> blocks, string figurePrefix = "")
    {
        var md = new StringBuilder();
        foreach (var block in blocks)
        {
            switch (block)
            {
                case PaperHeading h:
                    md.Append('#', h.Level).Append(' ').Append(h.Text).Append('\n');
                    break;
                case PaperParagraph p:
                    md.Append(p.Text).Append('\n');
                    break;
                case PaperBullets b:
                    foreach (var item in b.Items) md.Append("- ").Append(item).Append('\n');
                    break;
                case PaperCode c:
                    md.Append("```\n").Append(c.Text).Append("\n```\n");
                    break;
                case PaperTableBlock t:
                    if (t.Table.Title.Length > 0) md.Append("**").Append(Cell(t.Table.Title)).Append("**\n\n");
                    md.Append("| ").Append(string.Join(" | ", t.Table.Columns.Select(Cell))).Append(" |\n");
                    md.Append('|').Append(string.Concat(t.Table.Columns.Select((_, i) => i == 0 ? "---|" : "---:|"))).Append('\n');
                    foreach (var row in t.Table.Rows) md.Append("| ").Append(string.Join(" | ", row.Select(Cell))).Append(" |\n");
                    break;
                case PaperFigure f:
                    md.Append("![").Append(f.File).Append("](").Append(figurePrefix).Append(f.File).Append(")\n\n*").Append(f.Caption).Append("*\n");
                    break;
            }
            md.Append('\n');
        }
        return md.ToString();
    }

    private const string Style = """
        body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; max-width: 1280px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
        h1 { border-bottom: 2px solid #ddd; padding-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #eee; }
        table { border-collapse: collapse; margin: .4em 0 1.6em; font-size: .88em; }
        caption { text-align: left; font-weight: 600; padding: .3em 0; }
        th, td { border: 1px solid #d4d4d4; padding: 3px 8px; text-align: right; white-space: nowrap; }
        th { background: #f2f4f7; } td:first-child { text-align: left; }
        tr:nth-child(even) td { background: #fafafa; }
        code { background: #f2f4f7; padding: 0 3px; border-radius: 3px; font-size: .92em; } pre { background: #f2f4f7; padding: .6em; overflow-x: auto; }
        figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; } figcaption { color: #555; font-size: .9em; }
        .scroll { overflow-x: auto; }
        """;

    /// <summary>A self-contained HTML page (figures referenced relative to the page).</summary>
    public static string ToHtml(IEnumerable<PaperBlock> blocks, string title)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").Append(Esc(title)).Append("</title>\n<style>\n")
            .Append(Style).Append("\n</style>\n</head>\n<body>\n");
        foreach (var block in blocks)
        {
            switch (block)
            {
                case PaperHeading h:
                    html.Append($"<h{h.Level}>{Inline(h.Text)}</h{h.Level}>\n");
                    break;
                case PaperParagraph p:
                    html.Append($"<p>{Inline(p.Text)}</p>\n");
                    break;
                case PaperBullets b:
                    html.Append("<ul>\n");
                    foreach (var item in b.Items) html.Append($"<li>{Inline(item)}</li>\n");
                    html.Append("</ul>\n");
                    break;
                case PaperCode c:
                    html.Append($"<pre><code>{Esc(c.Text)}</code></pre>\n");
                    break;
                case PaperTableBlock t:
                    html.Append("<div class=\"scroll\"><table>\n");
                    if (t.Table.Title.Length > 0) html.Append($"<caption>{Inline(t.Table.Title)}</caption>\n");
                    html.Append("<thead><tr>").Append(string.Concat(t.Table.Columns.Select(c => $"<th>{Inline(c)}</th>"))).Append("</tr></thead>\n<tbody>\n");
                    foreach (var row in t.Table.Rows) html.Append("<tr>").Append(string.Concat(row.Select(c => $"<td>{Inline(c)}</td>"))).Append("</tr>\n");
                    html.Append("</tbody></table></div>\n");
                    break;
                case PaperFigure f:
                    html.Append($"<figure><img src=\"{Esc(f.File)}\" alt=\"{Esc(f.File)}\"><figcaption>{Inline(f.Caption)}</figcaption></figure>\n");
                    break;
            }
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>
    /// Replaces the text between <paramref name="begin"/> and <paramref name="end"/> (markers kept) in <paramref name="document"/>
    /// with <paramref name="section"/>, or appends markers and section when the document has none; text outside stays.
    /// </summary>
    /// <exception cref="InvalidOperationException">Only one marker, or the end marker before the begin marker.</exception>
    public static string ReplaceSection(string document, string begin, string end, string section)
    {
        int b = document.IndexOf(begin, StringComparison.Ordinal), e = document.IndexOf(end, StringComparison.Ordinal);
        if (b < 0 && e < 0)
            return document.TrimEnd('\n') + (document.Length > 0 ? "\n\n" : "") + begin + "\n" + section.TrimEnd('\n') + "\n" + end + "\n";
        if (b < 0 || e < 0 || e < b) throw new InvalidOperationException($"the generated section's markers are broken ({begin} … {end})");
        return document[..(b + begin.Length)] + "\n" + section.TrimEnd('\n') + "\n" + document[e..];
    }

    private static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Esc(string s) => WebUtility.HtmlEncode(s);

    private static string Inline(string s) => CodeSpan().Replace(Bold().Replace(Esc(s), m => $"<b>{m.Groups[1].Value}</b>"), m => $"<code>{m.Groups[1].Value}</code>");

    [GeneratedRegex("`([^`]*)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\*\*([^*]+)\*\*")]
    private static partial Regex Bold();
}
