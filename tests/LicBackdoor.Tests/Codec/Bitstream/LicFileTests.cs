using LicBackdoor.Codec.Bitstream;

namespace LicBackdoor.Tests.Codec.Bitstream;

public sealed class LicFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-lic-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static LicFile Sample() => new("bmshj2018-hyperprior", 3, 0x0123456789abcdefUL, 100, 37, 2, 1,
        new[] { new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, new byte[] { 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 } });

    [Fact]
    public void RoundTripsEveryField()
    {
        var f = Sample();
        var path = Path.Combine(dir, "a.lic");
        f.Write(path);
        var g = LicFile.Read(path);
        Assert.Equal(f with { Strings = g.Strings }, g);
        Assert.Equal(f.Strings[0], g.Strings[0]);
        Assert.Equal(f.Strings[1], g.Strings[1]);
        Assert.Equal(20, g.PayloadBytes);
        Assert.Equal(new FileInfo(path).Length, g.PayloadBytes + g.OverheadBytes);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void EveryTruncationIsRefusedWithTheFileName()
    {
        var bytes = Sample().ToBytes();
        for (int n = 0; n < bytes.Length; n++)
        {
            var e = Assert.Throws<InvalidBitstreamException>(() => LicFile.Parse(bytes.AsSpan(0, n), "cut.lic"));
            Assert.Contains("cut.lic", e.Message);
        }
    }

    [Fact]
    public void EverySingleBitFlipIsDetected()
    {
        var bytes = Sample().ToBytes();
        for (int i = 0; i < bytes.Length; i++)
            for (int bit = 0; bit < 8; bit++)
            {
                var copy = (byte[])bytes.Clone();
                copy[i] ^= (byte)(1 << bit);
                Assert.Throws<InvalidBitstreamException>(() => LicFile.Parse(copy, "flip.lic"));
            }
    }

    [Fact]
    public void WrongVersionAndMagicAreNamed()
    {
        var bytes = Sample().ToBytes();
        bytes[4] = 9;
        var e = Assert.Throws<InvalidBitstreamException>(() => LicFile.Parse(bytes, "v9.lic"));
        Assert.Contains("version 9", e.Message);
        var png = new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        Assert.Contains("not a LicBackdoor bitstream", Assert.Throws<InvalidBitstreamException>(() => LicFile.Parse(png, "x.lic")).Message);
    }

    [Fact]
    public void HostileLengthsDoNotAllocate()
    {
        var bytes = Sample().ToBytes().ToList();
        // set the first string length to 0xFFFFFFFF (offset: 4+1+1+1+20+1+8+16+1)
        int at = 4 + 1 + 1 + 1 + "bmshj2018-hyperprior".Length + 1 + 8 + 16 + 1;
        for (int i = 0; i < 4; i++) bytes[at + i] = 0xff;
        var e = Assert.Throws<InvalidBitstreamException>(() => LicFile.Parse(bytes.ToArray(), "big.lic"));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void MissingFileIsFileNotFound()
    {
        var path = Path.Combine(dir, "none.lic");
        var e = Assert.Throws<FileNotFoundException>(() => LicFile.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void WriteIntoMissingFolderLeavesNothing()
    {
        var path = Path.Combine(dir, "no", "such", "a.lic");
        Assert.Throws<DirectoryNotFoundException>(() => Sample().Write(path));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void InvalidFieldsAreRefusedOnWrite()
    {
        Assert.Throws<ArgumentException>(() => (Sample() with { Width = 0 }).ToBytes());
        Assert.Throws<ArgumentException>(() => (Sample() with { ModelName = "" }).ToBytes());
        Assert.Throws<ArgumentException>(() => (Sample() with { Strings = Array.Empty<byte[]>() }).ToBytes());
    }
}
