using LicBackdoor.Data;

namespace LicBackdoor.Tests.Data;

public sealed class FacePairsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-pairs-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Write(string pairs, string? identities = null)
    {
        foreach (var f in new[] { "a.png", "b.png", "c.png" }) File.WriteAllBytes(Path.Combine(dir, f), [0]);
        if (identities is not null) File.WriteAllText(Path.Combine(dir, FacePairs.IdentitiesFileName), identities);
        var path = Path.Combine(dir, FacePairs.PairsFileName);
        File.WriteAllText(path, pairs);
        return path;
    }

    [Fact]
    public void SharedPairs_Have520PairsOver61Crops()
    {
        var set = FacePairs.Load(Path.Combine(TestPaths.Data, "faces", "pairs.csv"));
        Assert.Equal(520, set.Pairs.Count);
        Assert.Equal(140, set.SameCount);
        Assert.Equal(380, set.DifferentCount);
        Assert.Equal(61, set.Files.Count);
        Assert.Equal(61, set.Identities.Count);
        Assert.Equal(13, set.Identities.Values.Distinct().Count());
        Assert.Equal(new FacePair("img20.png", "img21.png", true), set.Pairs[0]);
        Assert.All(set.Files, f => Assert.True(File.Exists(set.PathOf(f))));
    }

    [Fact]
    public void ColumnsAreFoundByName()
    {
        var set = FacePairs.Load(Write("same,file_b,file_a\n1,b.png,a.png\n0,c.png,a.png\n", "file,identity\na.png,x\nb.png,x\nc.png,y\n"));
        Assert.Equal([new FacePair("a.png", "b.png", true), new FacePair("a.png", "c.png", false)], set.Pairs);
        Assert.Equal(["a.png", "b.png", "c.png"], set.Files);
    }

    [Theory]
    [InlineData("file_a,file_b\na.png,b.png\n", null, "no 'same' column")]
    [InlineData("file_a,file_b,same\na.png,b.png,yes\n", null, "must be 1 or 0")]
    [InlineData("file_a,file_b,same\na.png,b.png\n", null, "2 fields")]
    [InlineData("file_a,file_b,same\n", null, "no pairs")]
    [InlineData("file_a,file_b,same\na.png,c.png,1\n", "identity,file\nx,a.png\nx,b.png\ny,c.png\n", "says x / y")]
    [InlineData("file_a,file_b,same\na.png,c.png,0\n", "identity,file\nx,a.png\nx,b.png\n", "not in identities.csv")]
    public void MalformedFiles_AreRefusedWithTheLine(string pairs, string? identities, string expected)
    {
        var path = Write(pairs, identities);
        var e = Assert.Throws<FormatException>(() => FacePairs.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(dir, e.Message);
    }

    [Fact]
    public void MissingImage_IsNamed()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FacePairs.Load(Write("file_a,file_b,same\na.png,zz.png,0\n")));
        Assert.Contains("zz.png", e.Message);
    }
}
