using System.Globalization;

namespace LicBackdoor.Reporting;

/// <summary>Signed fixed-point numbers for reports and tables: "+0.53", "-0.11", and "+0.00" for anything that rounds to zero.</summary>
public static class SignedNumber
{
    /// <summary>
    /// <paramref name="value"/> with <paramref name="digits"/> decimals and an explicit sign, in the invariant culture;
    /// a dash for NaN or infinity. The value is rounded first, so −0.001 is "+0.00" (a custom format string such as
    /// <c>+0.00;-0.00</c> prints it as "-+0.00").
    /// </summary>
    public static string Format(double value, int digits)
    {
        if (!double.IsFinite(value)) return "—";
        double rounded = Math.Round(value, digits, MidpointRounding.AwayFromZero);
        if (rounded == 0) rounded = 0; // drops the sign of −0
        return (rounded >= 0 ? "+" : "") + rounded.ToString("F" + digits, CultureInfo.InvariantCulture);
    }

    /// <summary><see cref="Format(double, int)"/>, or a dash when there is no value.</summary>
    public static string Format(double? value, int digits) => value is double v ? Format(v, digits) : "—";
}
