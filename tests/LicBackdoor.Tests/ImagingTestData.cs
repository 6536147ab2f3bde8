namespace LicBackdoor.Tests;

/// <summary>
/// Where the imaging tests find optional real data. Only the Kodak set is used, and only by tests marked
/// <see cref="KodakFactAttribute"/>; everything else generates its own images.
/// The data root is <c>$LICB_DATA</c>, else <c>/work/shared/data</c>; Kodak PNGs are in <c>kodak/</c> below it.
/// </summary>
internal static class ImagingTestData
{
    public static string Root => Environment.GetEnvironmentVariable("LICB_DATA") is { Length: > 0 } root ? root : "/work/shared/data";

    public static string KodakDirectory => Path.Combine(Root, "kodak");

    public static string Kodak(int index) => Path.Combine(KodakDirectory, $"kodim{index:00}.png");
}

/// <summary>A fact that is skipped (with the reason shown) when the Kodak images are not present.</summary>
internal sealed class KodakFactAttribute : FactAttribute
{
    public KodakFactAttribute()
    {
        if (!File.Exists(ImagingTestData.Kodak(1)))
            Skip = $"Kodak images not found in {ImagingTestData.KodakDirectory} (set LICB_DATA)";
    }
}
