namespace LicBackdoor.Evaluation;

/// <summary>How <see cref="BjontegaardDelta"/> interpolates a curve between its points.</summary>
public enum BdInterpolation
{
    /// <summary>
    /// Bjøntegaard's original method (VCEG-M33, 2001): a least-squares cubic polynomial through all points
    /// (exact when there are four). The default.
    /// </summary>
    Polynomial,

    /// <summary>
    /// Piecewise cubic Hermite interpolation with Fritsch-Carlson monotone slopes (PCHIP): the piecewise cubic
    /// variant Bjøntegaard proposed in VCEG-AL22 (2008) and that later VCEG/JVET test-condition tooling uses. It
    /// passes through every point and does not oscillate between them. Slopes and end conditions as MATLAB's and
    /// SciPy's <c>pchip</c>.
    /// </summary>
    Pchip,
}

/// <summary>
/// Bjøntegaard-delta rate and PSNR between two rate-distortion curves (G. Bjøntegaard, "Calculation of average
/// PSNR differences between RD-curves", VCEG-M33, 2001).
/// </summary>
/// <remarks>
/// <para><b>BD-PSNR</b>: PSNR is interpolated as a function of log-rate for each curve; the difference of the
/// two interpolants is averaged over the log-rate interval both curves cover:
/// <c>(∫ D_test − ∫ D_anchor) / (hi − lo)</c> in dB, positive when the test curve is better.</para>
/// <para><b>BD-rate</b>: log-rate is interpolated as a function of PSNR; the mean difference <c>Δ</c> over the
/// common PSNR interval gives <c>(e^Δ − 1) · 100</c> %, the average rate change of the test curve at equal
/// quality, negative when the test curve needs fewer bits. The logarithm's base does not change the result.
/// A test curve that needs exactly 1.1 times the anchor's rate everywhere has BD-rate +10 %; the anchor measured
/// against it has 1/1.1 − 1 = −9.09 %.</para>
/// <para>Rates are bpp (any rate unit works: only ratios matter). Each curve needs at least four points with
/// distinct abscissae; points are sorted, and points sharing an abscissa are merged at their mean. The polynomial fit centres and scales the
/// abscissae before solving, so it is well conditioned for any number of points (more than four gives a
/// least-squares fit, as common implementations do).</para>
/// </remarks>
public static class BjontegaardDelta
{
    /// <summary>Minimum number of distinct points per curve.</summary>
    public const int MinPoints = 4;

    /// <summary>BD-rate in percent of <paramref name="test"/> against <paramref name="anchor"/>; negative means fewer bits at equal PSNR.</summary>
    /// <exception cref="ArgumentException">A curve has fewer than four distinct points, a non-positive or non-finite value, or the PSNR ranges do not overlap.</exception>
    public static double Rate(IReadOnlyList<(double Bpp, double Psnr)> anchor, IReadOnlyList<(double Bpp, double Psnr)> test, BdInterpolation method = BdInterpolation.Polynomial)
    {
        var a = Prepare(anchor, nameof(anchor), p => p.Psnr, p => Math.Log(p.Bpp));
        var t = Prepare(test, nameof(test), p => p.Psnr, p => Math.Log(p.Bpp));
        RequireRisingRate(a, nameof(anchor));
        RequireRisingRate(t, nameof(test));
        double delta = MeanDifference(a, t, method, "PSNR");
        return (Math.Exp(delta) - 1) * 100;
    }

    /// <summary>
    /// BD-rate integrates log-rate as a function of PSNR, which exists only when the rate rises with the PSNR; for a
    /// curve whose PSNR falls (or stalls) while its rate rises, the fitted cubic is meaningless (it can reach millions of
    /// percent), so such a curve is refused.
    /// </summary>
    private static void RequireRisingRate((double[] X, double[] Y) curve, string name)
    {
        for (int i = 1; i < curve.Y.Length; i++)
            if (!(curve.Y[i] > curve.Y[i - 1]))
                throw new ArgumentException($"the {name} curve is not monotone (its PSNR does not rise with its rate at every point), so log-rate is not a function of PSNR and no BD-rate exists", name);
    }

    /// <summary>BD-PSNR in dB of <paramref name="test"/> against <paramref name="anchor"/>; positive means higher PSNR at equal rate.</summary>
    /// <exception cref="ArgumentException">A curve has fewer than four distinct points, a non-positive or non-finite value, or the rate ranges do not overlap.</exception>
    public static double Psnr(IReadOnlyList<(double Bpp, double Psnr)> anchor, IReadOnlyList<(double Bpp, double Psnr)> test, BdInterpolation method = BdInterpolation.Polynomial)
    {
        var a = Prepare(anchor, nameof(anchor), p => Math.Log(p.Bpp), p => p.Psnr);
        var t = Prepare(test, nameof(test), p => Math.Log(p.Bpp), p => p.Psnr);
        return MeanDifference(a, t, method, "rate");
    }

    /// <summary>BD-rate (%) of one curve against another, from their (bpp, PSNR) points.</summary>
    public static double Rate(RdCurve anchor, RdCurve test, BdInterpolation method = BdInterpolation.Polynomial) =>
        Rate(anchor.BppPsnr, test.BppPsnr, method);

    /// <summary>BD-PSNR (dB) of one curve against another, from their (bpp, PSNR) points.</summary>
    public static double Psnr(RdCurve anchor, RdCurve test, BdInterpolation method = BdInterpolation.Polynomial) =>
        Psnr(anchor.BppPsnr, test.BppPsnr, method);

    /// <summary>Mean of (test − anchor) over the common abscissa interval.</summary>
    private static double MeanDifference((double[] X, double[] Y) anchor, (double[] X, double[] Y) test, BdInterpolation method, string axis)
    {
        double lo = Math.Max(anchor.X[0], test.X[0]);
        double hi = Math.Min(anchor.X[^1], test.X[^1]);
        if (!(hi > lo))
            throw new ArgumentException(
                $"the curves' {axis} ranges do not overlap ([{Show(anchor.X[0], axis)}, {Show(anchor.X[^1], axis)}] and [{Show(test.X[0], axis)}, {Show(test.X[^1], axis)}]), so no Bjøntegaard delta exists");
        Func<double[], double[], double, double, double> integral = method switch
        {
            BdInterpolation.Polynomial => PolynomialIntegral,
            BdInterpolation.Pchip => PchipIntegral,
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, "unknown interpolation"),
        };
        return (integral(test.X, test.Y, lo, hi) - integral(anchor.X, anchor.Y, lo, hi)) / (hi - lo);
    }

    private static string Show(double x, string axis) => axis == "rate"
        ? Math.Exp(x).ToString("G4", System.Globalization.CultureInfo.InvariantCulture) + " bpp"
        : x.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + " dB";

    /// <summary>Validated, sorted, de-duplicated (x, y) arrays.</summary>
    private static (double[] X, double[] Y) Prepare(IReadOnlyList<(double Bpp, double Psnr)> curve, string name,
        Func<(double Bpp, double Psnr), double> x, Func<(double Bpp, double Psnr), double> y)
    {
        ArgumentNullException.ThrowIfNull(curve, name);
        foreach (var p in curve)
            if (!(p.Bpp > 0) || !double.IsFinite(p.Bpp) || !double.IsFinite(p.Psnr))
                throw new ArgumentException($"{name}: every point needs a positive finite rate and a finite PSNR, got ({p.Bpp}, {p.Psnr})", name);
        // Points sharing an abscissa (e.g. JPEG qualities 1 and 2, which give identical files) become one, at their mean ordinate.
        var pts = curve.Select(p => (X: x(p), Y: y(p))).GroupBy(p => p.X).Select(g => (X: g.Key, Y: g.Average(p => p.Y)))
            .OrderBy(p => p.X).ToArray();
        if (pts.Length < MinPoints)
            throw new ArgumentException($"the {name} curve has {pts.Length} distinct point{(pts.Length == 1 ? "" : "s")}; a Bjøntegaard delta needs at least {MinPoints} points", name);
        return (pts.Select(p => p.X).ToArray(), pts.Select(p => p.Y).ToArray());
    }

    /// <summary>∫ from lo to hi of the least-squares cubic through (x, y).</summary>
    private static double PolynomialIntegral(double[] x, double[] y, double lo, double hi)
    {
        // Fit in u = (x - centre) / scale for conditioning; ∫ p(u(x)) dx = scale · ∫ p(u) du.
        double centre = x.Average();
        double scale = Math.Max(Math.Abs(x[0] - centre), Math.Abs(x[^1] - centre));
        var u = x.Select(v => (v - centre) / scale).ToArray();
        var c = FitCubic(u, y);
        double Antiderivative(double v) => v * (c[0] + v * (c[1] / 2 + v * (c[2] / 3 + v * c[3] / 4)));
        return scale * (Antiderivative((hi - centre) / scale) - Antiderivative((lo - centre) / scale));
    }

    /// <summary>Coefficients c0..c3 of the least-squares cubic, by Householder QR of the Vandermonde matrix.</summary>
    private static double[] FitCubic(double[] u, double[] y)
    {
        int n = u.Length;
        var a = new double[n, 4];
        var b = (double[])y.Clone();
        for (int i = 0; i < n; i++)
        {
            double p = 1;
            for (int j = 0; j < 4; j++) { a[i, j] = p; p *= u[i]; }
        }
        for (int k = 0; k < 4; k++)
        {
            double norm = 0;
            for (int i = k; i < n; i++) norm += a[i, k] * a[i, k];
            norm = Math.Sqrt(norm);
            if (norm == 0) throw new ArgumentException("the points do not determine a cubic");
            double alpha = a[k, k] > 0 ? -norm : norm;
            var v = new double[n];
            for (int i = k; i < n; i++) v[i] = a[i, k];
            v[k] -= alpha;
            double vv = 0;
            for (int i = k; i < n; i++) vv += v[i] * v[i];
            if (vv == 0) continue;
            for (int j = k; j < 4; j++)
            {
                double s = 0;
                for (int i = k; i < n; i++) s += v[i] * a[i, j];
                s = 2 * s / vv;
                for (int i = k; i < n; i++) a[i, j] -= s * v[i];
            }
            double sb = 0;
            for (int i = k; i < n; i++) sb += v[i] * b[i];
            sb = 2 * sb / vv;
            for (int i = k; i < n; i++) b[i] -= sb * v[i];
        }
        var c = new double[4];
        for (int k = 3; k >= 0; k--)
        {
            double s = b[k];
            for (int j = k + 1; j < 4; j++) s -= a[k, j] * c[j];
            if (Math.Abs(a[k, k]) < 1e-12) throw new ArgumentException("the points do not determine a cubic");
            c[k] = s / a[k, k];
        }
        return c;
    }

    /// <summary>∫ from lo to hi of the PCHIP interpolant through (x, y); lo and hi lie within [x0, x_last].</summary>
    private static double PchipIntegral(double[] x, double[] y, double lo, double hi)
    {
        int n = x.Length;
        var h = new double[n - 1];
        var delta = new double[n - 1];
        for (int k = 0; k < n - 1; k++) { h[k] = x[k + 1] - x[k]; delta[k] = (y[k + 1] - y[k]) / h[k]; }
        var d = PchipSlopes(h, delta);
        double total = 0;
        for (int k = 0; k < n - 1; k++)
        {
            double a = Math.Max(lo, x[k]), b = Math.Min(hi, x[k + 1]);
            if (!(b > a)) continue;
            // Hermite cubic on [x_k, x_k+1] in t = (x - x_k) / h: y_k·H00 + h·d_k·H10 + y_k+1·H01 + h·d_k+1·H11.
            double Primitive(double t)
            {
                double t2 = t * t, t3 = t2 * t, t4 = t3 * t;
                double h00 = t - t3 + t4 / 2;            // ∫ 2t³ − 3t² + 1
                double h10 = t4 / 4 - 2 * t3 / 3 + t2 / 2; // ∫ t³ − 2t² + t
                double h01 = t3 - t4 / 2;                // ∫ −2t³ + 3t²
                double h11 = t4 / 4 - t3 / 3;            // ∫ t³ − t²
                return h[k] * (y[k] * h00 + h[k] * d[k] * h10 + y[k + 1] * h01 + h[k] * d[k + 1] * h11);
            }
            total += Primitive((b - x[k]) / h[k]) - Primitive((a - x[k]) / h[k]);
        }
        return total;
    }

    /// <summary>Fritsch-Carlson slopes with the three-point end conditions used by common PCHIP implementations.</summary>
    private static double[] PchipSlopes(double[] h, double[] delta)
    {
        int n = h.Length + 1;
        var d = new double[n];
        if (n == 2) { d[0] = d[1] = delta[0]; return d; }
        for (int k = 1; k < n - 1; k++)
        {
            if (delta[k - 1] * delta[k] <= 0) { d[k] = 0; continue; }
            double w1 = 2 * h[k] + h[k - 1], w2 = h[k] + 2 * h[k - 1];
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k]); // weighted harmonic mean
        }
        d[0] = EndSlope(h[0], h[1], delta[0], delta[1]);
        d[n - 1] = EndSlope(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3]);
        return d;
    }

    /// <summary>One-sided three-point slope, shape-preserving.</summary>
    private static double EndSlope(double h0, double h1, double del0, double del1)
    {
        double d = ((2 * h0 + h1) * del0 - h0 * del1) / (h0 + h1);
        if (Math.Sign(d) != Math.Sign(del0)) return 0;
        if (Math.Sign(del0) != Math.Sign(del1) && Math.Abs(d) > Math.Abs(3 * del0)) return 3 * del0;
        return d;
    }
}
