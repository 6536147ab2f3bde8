using System.Globalization;

namespace LicBackdoor.Codec.Training;

/// <summary>The CSV log of a resumable run (first column: the step), shared by the codec and the attack trainers.</summary>
internal static class RunLog
{
    /// <summary>
    /// The header line of <paramref name="columns"/>: a name holding a comma or a quote (objective names such as
    /// <c>face,beta=20.cos</c>) is quoted as RFC 4180 says, so that the header splits into as many fields as a row.
    /// </summary>
    public static string Header(IEnumerable<string> columns) =>
        string.Join(",", columns.Select(c => c.Contains(',') || c.Contains('"') ? $"\"{c.Replace("\"", "\"\"")}\"" : c));

    /// <summary>
    /// Makes <paramref name="path"/> hold <paramref name="header"/> and only the lines of steps up to
    /// <paramref name="step"/>: a resumed run drops what was logged after the checkpoint it continues from.
    /// </summary>
    public static void KeepUpTo(string path, string header, long step)
    {
        if (!File.Exists(path)) { AtomicFile.WriteAllText(path, header + "\n"); return; }
        var kept = File.ReadAllLines(path).Skip(1).Where(l =>
            long.TryParse(l.Split(',')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) && s <= step);
        AtomicFile.WriteAllText(path, string.Join("\n", kept.Prepend(header)) + "\n");
    }
}
