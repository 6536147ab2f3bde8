using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace LicBackdoor.Reporting;

/// <summary>A table for people: a title, column names and rows of formatted cells (printed by the CLI, written into reports).</summary>
public sealed record ReportTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>A block of a report document, rendered both as Markdown and as HTML by <see cref="ReportDocument"/>.</summary>
public abstract record ReportBlock;

/// <summary>A heading of the given level (1 = the page title).</summary>
public sealed record ReportHeading(int Level, string Text) : ReportBlock;

/// <summary>A paragraph (inline `code` spans allowed, and **bold** ones when <see cref="ReportRenderOptions.Bold"/>).</summary>
public sealed record ReportParagraph(string Text) : ReportBlock;

/// <summary>A bulleted list.</summary>
public sealed record ReportBullets(IReadOnlyList<string> Items) : ReportBlock;

/// <summary>A table; a collapsed one is folded under its title in HTML (<c>&lt;details&gt;</c>).</summary>
public sealed record ReportTableBlock(ReportTable Table, bool Collapsed = false) : ReportBlock;

/// <summary>A figure: a file relative to the document, and its caption.</summary>
public sealed record ReportFigure(string File, string Caption) : ReportBlock;

/// <summary>A command line shown as a code block.</summary>
public sealed record ReportCode(string Text) : ReportBlock;

/// <summary>How <see cref="ReportDocument"/> renders: the differences between the attack report and the paper report.</summary>
public sealed record ReportRenderOptions
{
    /// <summary>
    /// Right-align exactly the columns whose every cell is a number (Markdown <c>---:</c>; in HTML the other columns'
    /// cells carry <c>class="text"</c>); otherwise the first column is left-aligned and every other one right-aligned.
    /// </summary>
    public bool NumericColumns { get; init; }

    /// <summary>Render <c>**bold**</c> spans as <c>&lt;b&gt;</c> in HTML (Markdown keeps them as they are).</summary>
    public bool Bold { get; init; }

    /// <summary>The line break written after each line of both renderings (the CSS inside the HTML page always uses <c>\n</c>).</summary>
    public string NewLine { get; init; } = "\n";

    /// <summary>Prefix of the figure paths in Markdown (e.g. <c>paper/</c>); the HTML page references figures relative to itself.</summary>
    public string FigurePrefix { get; init; } = "";
}

/// <summary>Renders <see cref="ReportBlock"/>s to Markdown and to a self-contained HTML page.</summary>
public static partial class ReportDocument
{
    /// <summary>Markdown: every block followed by an empty line.</summary>
    public static string ToMarkdown(IEnumerable<ReportBlock> blocks, ReportRenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        options ??= new ReportRenderOptions();
        var nl = options.NewLine;
        var md = new StringBuilder();
        foreach (var block in blocks)
        {
            switch (block)
            {
                case ReportHeading h:
                    md.Append('#', h.Level).Append(' ').Append(h.Text).Append(nl);
                    break;
                case ReportParagraph p:
                    md.Append(p.Text).Append(nl);
                    break;
                case ReportBullets b:
                    foreach (var item in b.Items) md.Append("- ").Append(item).Append(nl);
                    break;
                case ReportCode c:
                    md.Append("```").Append(nl).Append(c.Text).Append(nl).Append("```").Append(nl);
                    break;
                case ReportTableBlock t:
                    if (t.Table.Title.Length > 0) md.Append("**").Append(Cell(t.Table.Title)).Append("**").Append(nl).Append(nl);
                    md.Append("| ").Append(string.Join(" | ", t.Table.Columns.Select(Cell))).Append(" |").Append(nl);
                    md.Append('|').Append(string.Concat(RightAligned(t.Table, options).Select(r => r ? "---:|" : "---|"))).Append(nl);
                    foreach (var row in t.Table.Rows) md.Append("| ").Append(string.Join(" | ", row.Select(Cell))).Append(" |").Append(nl);
                    break;
                case ReportFigure f:
                    md.Append("![").Append(f.File).Append("](").Append(options.FigurePrefix).Append(f.File).Append(')').Append(nl)
                      .Append(nl).Append('*').Append(f.Caption).Append('*').Append(nl);
                    break;
            }
            md.Append(nl);
        }
        return md.ToString();
    }

    /// <summary>A self-contained HTML page titled <paramref name="title"/> (figures referenced relative to the page).</summary>
    public static string ToHtml(IEnumerable<ReportBlock> blocks, string title, ReportRenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        options ??= new ReportRenderOptions();
        var doc = blocks.ToList();
        var nl = options.NewLine;
        string Inline(string s) => InlineHtml(s, options.Bold);
        var html = new StringBuilder();
        foreach (var line in (string[])["<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">", $"<title>{Esc(title)}</title>", "<style>",
                                        Style(options, doc.OfType<ReportCode>().Any(), doc.OfType<ReportTableBlock>().Any(t => t.Collapsed)), "</style>", "</head>", "<body>"])
            html.Append(line).Append(nl);
        foreach (var block in doc)
        {
            switch (block)
            {
                case ReportHeading h:
                    html.Append($"<h{h.Level}>{Inline(h.Text)}</h{h.Level}>").Append(nl);
                    break;
                case ReportParagraph p:
                    html.Append($"<p>{Inline(p.Text)}</p>").Append(nl);
                    break;
                case ReportBullets b:
                    html.Append("<ul>").Append(nl);
                    foreach (var item in b.Items) html.Append($"<li>{Inline(item)}</li>").Append(nl);
                    html.Append("</ul>").Append(nl);
                    break;
                case ReportCode c:
                    html.Append($"<pre><code>{Esc(c.Text)}</code></pre>").Append(nl);
                    break;
                case ReportTableBlock t:
                    if (t.Collapsed) html.Append($"<details><summary>{Inline(t.Table.Title)}</summary>").Append(nl);
                    html.Append("<div class=\"scroll\"><table>").Append(nl);
                    if (!t.Collapsed && t.Table.Title.Length > 0) html.Append($"<caption>{Inline(t.Table.Title)}</caption>").Append(nl);
                    html.Append("<thead><tr>").Append(string.Concat(t.Table.Columns.Select(c => $"<th>{Inline(c)}</th>"))).Append("</tr></thead>").Append(nl);
                    html.Append("<tbody>").Append(nl);
                    var right = RightAligned(t.Table, options);
                    foreach (var row in t.Table.Rows)
                        html.Append("<tr>")
                            .Append(string.Concat(row.Select((c, i) => options.NumericColumns && i < right.Count && !right[i] ? $"<td class=\"text\">{Inline(c)}</td>" : $"<td>{Inline(c)}</td>")))
                            .Append("</tr>").Append(nl);
                    html.Append("</tbody></table></div>").Append(nl);
                    if (t.Collapsed) html.Append("</details>").Append(nl);
                    break;
                case ReportFigure f:
                    html.Append($"<figure><img src=\"{Esc(f.File)}\" alt=\"{Esc(f.File)}\"><figcaption>{Inline(f.Caption)}</figcaption></figure>").Append(nl);
                    break;
            }
        }
        html.Append("</body>").Append(nl).Append("</html>").Append(nl);
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

    /// <summary>Per column: whether it is right-aligned (see <see cref="ReportRenderOptions.NumericColumns"/>).</summary>
    private static IReadOnlyList<bool> RightAligned(ReportTable t, ReportRenderOptions options) => options.NumericColumns
        ? t.Columns.Select((_, i) => t.Rows.Count > 0 && t.Rows.All(r => i < r.Count && NumberCell().IsMatch(r[i]))).ToList()
        : t.Columns.Select((_, i) => i > 0).ToList();

    [GeneratedRegex(@"^([+\-×]?[0-9][0-9.e+\-]*( / [0-9.]+)?|∞|—)$")]
    private static partial Regex NumberCell();

    /// <summary>The page's CSS: the alignment rule of the options, and the rules of code blocks and collapsed tables when the page has them.</summary>
    private static string Style(ReportRenderOptions options, bool code, bool collapsed) => $$"""
        body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; max-width: 1280px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
        h1 { border-bottom: 2px solid #ddd; padding-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #eee; }
        table { border-collapse: collapse; margin: .4em 0 1.6em; font-size: .88em; }
        caption { text-align: left; font-weight: 600; padding: .3em 0; }
        th, td { border: 1px solid #d4d4d4; padding: 3px 8px; text-align: right; white-space: nowrap; }
        th { background: #f2f4f7; } {{(options.NumericColumns ? "td.text" : "td:first-child")}} { text-align: left; }
        tr:nth-child(even) td { background: #fafafa; }
        code { background: #f2f4f7; padding: 0 3px; border-radius: 3px; font-size: .92em; }{{(code ? " pre { background: #f2f4f7; padding: .6em; overflow-x: auto; }" : "")}}
        figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; } figcaption { color: #555; font-size: .9em; }
        {{(collapsed ? "details { margin: .5em 0 1em; } summary { cursor: pointer; font-weight: 600; } " : "")}}.scroll { overflow-x: auto; }
        """;

    private static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Esc(string s) => WebUtility.HtmlEncode(s);

    /// <summary>HTML-escapes text and turns `code` spans into &lt;code&gt; (and **bold** ones into &lt;b&gt; when <paramref name="bold"/>).</summary>
    private static string InlineHtml(string s, bool bold)
    {
        var html = Esc(s);
        if (bold) html = Bold().Replace(html, m => $"<b>{m.Groups[1].Value}</b>");
        return CodeSpan().Replace(html, m => $"<code>{m.Groups[1].Value}</code>");
    }

    [GeneratedRegex("`([^`]*)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\*\*([^*]+)\*\*")]
    private static partial Regex Bold();
}
