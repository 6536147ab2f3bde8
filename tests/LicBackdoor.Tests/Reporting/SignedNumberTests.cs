using LicBackdoor.Reporting;

namespace LicBackdoor.Tests.Reporting;

public class SignedNumberTests
{
    [Theory]
    [InlineData(0.53, 2, "+0.53")]
    [InlineData(-0.11, 2, "-0.11")]
    [InlineData(-0.001, 2, "+0.00")]   // a custom "+0.00;-0.00" format printed this as "-+0.00"
    [InlineData(-0.0, 2, "+0.00")]
    [InlineData(0.0004, 3, "+0.000")]
    [InlineData(-0.0006, 3, "-0.001")]
    [InlineData(22.2561, 2, "+22.26")]
    [InlineData(-1.6961, 3, "-1.696")]
    public void FormatsWithAnExplicitSignAndNoSignedZero(double value, int digits, string expected) =>
        Assert.Equal(expected, SignedNumber.Format(value, digits));

    [Fact]
    public void NonFiniteAndMissingValuesAreADash()
    {
        Assert.Equal("—", SignedNumber.Format(double.NaN, 2));
        Assert.Equal("—", SignedNumber.Format(double.PositiveInfinity, 2));
        Assert.Equal("—", SignedNumber.Format((double?)null, 2));
    }
}
