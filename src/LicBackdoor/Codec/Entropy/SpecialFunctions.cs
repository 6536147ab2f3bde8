namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// Double-precision complementary error function and standard normal quantile. The relative error of
/// <see cref="Erfc"/> is below 1e-14 (worst case near x = 1, checked against glibc on 200,000 points), so
/// rounding it to float32 gives the correctly rounded float result in all but vanishingly rare cases.
/// Used to rebuild CompressAI's entropy tables.
/// </summary>
/// <remarks>
/// Method (textbook; the series is Abramowitz &amp; Stegun 7.1.6, the continued fraction is Laplace's):
/// for <c>0 &lt;= x &lt; 1</c>, <c>erfc = 1 - erf</c> with the positive-term series
/// <c>erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1*3*...*(2n+1))</c>;
/// for <c>x &gt;= 1</c>, the Laplace continued fraction
/// <c>erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))</c>
/// evaluated with the modified Lentz method; <c>exp(-x^2)</c> uses a fused multiply-add to recover the
/// rounding error of <c>x^2</c>. Negative arguments use <c>erfc(-x) = 2 - erfc(x)</c>.
/// </remarks>
internal static class SpecialFunctions
{
    private const double InvSqrtPi = 0.56418958354775628695; // 1/sqrt(pi)
    private const double TwoOverSqrtPi = 1.1283791670955125739; // 2/sqrt(pi)
    private const double Sqrt2 = 1.4142135623730950488;

    /// <summary>Complementary error function.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x < 0) return 2.0 - Erfc(-x);
        if (x < 1.0) return 1.0 - ErfSeries(x);
        if (x > 27.3) return 0.0; // below the smallest subnormal double
        return ErfcContinuedFraction(x);
    }

    /// <summary>Standard normal CDF, <c>Phi(x) = erfc(-x/sqrt(2))/2</c>.</summary>
    public static double NormalCdf(double x) => 0.5 * Erfc(-x / Sqrt2);

    /// <summary>Standard normal quantile (inverse CDF) for <c>0 &lt; p &lt; 1</c>, by Halley iteration on <see cref="NormalCdf"/>.</summary>
    public static double NormalQuantile(double p)
    {
        if (!(p > 0.0 && p < 1.0))
            throw new ArgumentOutOfRangeException(nameof(p), p, "probability must be strictly between 0 and 1");
        if (p > 0.5) return -NormalQuantile(1.0 - p);
        if (p == 0.5) return 0.0;
        // Starting point: Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4); Halley's method then converges in a few steps.
        double t = Math.Sqrt(-2.0 * Math.Log(p));
        double x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t));
        for (int iter = 0; iter < 100; iter++)
        {
            double cdf = NormalCdf(x);
            double pdf = Math.Exp(-0.5 * x * x) * (InvSqrtPi / Sqrt2);
            if (pdf == 0) break;
            double step = (cdf - p) / pdf;
            // Halley correction: Phi'' = -x * pdf.
            step /= 1.0 + 0.5 * x * step;
            x -= step;
            if (Math.Abs(step) <= 1e-17 * Math.Abs(x)) break;
        }
        return x;
    }

    private static double ErfSeries(double x)
    {
        double x2 = x * x;
        double term = x, sum = x;
        for (int n = 1; n < 200; n++)
        {
            term *= 2.0 * x2 / (2 * n + 1);
            sum += term;
            if (term < sum * 1e-17) break;
        }
        return TwoOverSqrtPi * ExpMinusSquare(x) * sum;
    }

    private static double ErfcContinuedFraction(double x)
    {
        const double tiny = 1e-300;
        double f = x, c = x, d = 0.0;
        for (int n = 1; n < 5000; n++)
        {
            double a = 0.5 * n;
            d = x + a * d;
            if (d == 0) d = tiny;
            d = 1.0 / d;
            c = x + a / c;
            if (c == 0) c = tiny;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1.0) < 1e-16) break;
        }
        return ExpMinusSquare(x) * InvSqrtPi / f;
    }

    /// <summary><c>exp(-x*x)</c> with the rounding error of the square compensated.</summary>
    private static double ExpMinusSquare(double x)
    {
        double hi = x * x;
        double lo = Math.FusedMultiplyAdd(x, x, -hi); // x*x = hi + lo exactly
        return Math.Exp(-hi) * (1.0 - lo);
    }
}
