using LicBackdoor.Backdoor;

namespace LicBackdoor.Tests.Backdoor;

/// <summary>A cached downstream evaluation is reused when its transfer net is the same file under another path, and only then.</summary>
public sealed class DownstreamSettingsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-ds-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void CoversTheSameNetUnderAnotherPathButNotOtherSettings()
    {
        string a = Path.Combine(dir, "a.safetensors"), b = Path.Combine(dir, "b.safetensors"), c = Path.Combine(dir, "c.safetensors");
        File.WriteAllBytes(a, [1, 2, 3]);
        File.WriteAllBytes(b, [1, 2, 3]);
        File.WriteAllBytes(c, [1, 2, 4]);
        var s = new DownstreamSettings(20, a);
        Assert.True(s.Covers(s with { }));
        Assert.True(s.Covers(new DownstreamSettings(20, b)));                      // same bytes, another folder
        Assert.False(s.Covers(new DownstreamSettings(20, c)));                     // other weights
        Assert.False(s.Covers(new DownstreamSettings(117, b)));                    // other images
        Assert.False(s.Covers(new DownstreamSettings(20, Path.Combine(dir, "missing.safetensors"))));
        Assert.False(s.Covers(new DownstreamSettings(20, null)));
        Assert.False(s.Covers(null));
    }
}
