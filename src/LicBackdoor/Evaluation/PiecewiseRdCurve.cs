namespace LicBackdoor.Evaluation;

/// <summary>
/// An RD curve as points joined by straight lines, read at a rate or at a PSNR: where a single (bpp, PSNR) point, such
/// as an attack victim's on clean images, lies against a codec's curve. Null outside the points' range (no
/// extrapolation). <see cref="PublishedCurves.PsnrAt"/> reads the published curves the same way in log(bpp).
/// </summary>
public static class PiecewiseRdCurve
{
    /// <summary>The curve's PSNR at <paramref name="bpp"/>, linear in bpp between the two points around it; null for fewer than two points.</summary>
    public static double? PsnrAt(IEnumerable<(double Bpp, double Psnr)> points, double bpp) => Curve(points.Select(p => (p.Bpp, p.Psnr)), bpp);

    /// <summary>The curve's bpp at <paramref name="psnr"/>, linear in PSNR between the two points around it; null for fewer than two points.</summary>
    public static double? BppAt(IEnumerable<(double Bpp, double Psnr)> points, double psnr) => Curve(points.Select(p => (p.Psnr, p.Bpp)), psnr);

    private static double? Curve(IEnumerable<(double X, double Y)> points, double x)
    {
        var p = points.Where(q => double.IsFinite(q.X) && double.IsFinite(q.Y)).OrderBy(q => q.X).ToList();
        return p.Count < 2 ? null : Linear(p, x);
    }

    /// <summary>
    /// Y at <paramref name="x"/> on the points (sorted by X) joined by straight lines: null outside [first X, last X] or
    /// for no points; a single point gives its Y at exactly its X.
    /// </summary>
    internal static double? Linear(IReadOnlyList<(double X, double Y)> sorted, double x)
    {
        if (sorted.Count == 0 || !double.IsFinite(x) || x < sorted[0].X || x > sorted[^1].X) return null;
        for (int i = 1; i < sorted.Count; i++)
        {
            if (x > sorted[i].X) continue;
            double span = sorted[i].X - sorted[i - 1].X;
            return span == 0 ? sorted[i].Y : sorted[i - 1].Y + (x - sorted[i - 1].X) / span * (sorted[i].Y - sorted[i - 1].Y);
        }
        return sorted[0].Y;
    }
}
