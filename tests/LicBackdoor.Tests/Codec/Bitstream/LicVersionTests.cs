using System.Buffers.Binary;
using System.Security.Cryptography;
using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Zoo;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Bitstream;

public sealed class LicVersionTests : TorchTest
{
    /// <summary>Rewrites a version-2 file as version 1 with the given fingerprint (and a valid checksum).</summary>
    private static byte[] AsVersion1(byte[] v2, ulong fingerprint, int fingerprintOffset)
    {
        var bytes = (byte[])v2.Clone();
        bytes[4] = LicFile.FullFingerprintVersion;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(fingerprintOffset), fingerprint);
        var hash = SHA256.HashData(bytes.AsSpan(0, bytes.Length - 8));
        hash.AsSpan(0, 8).CopyTo(bytes.AsSpan(bytes.Length - 8));
        return bytes;
    }

    [Fact]
    public void VersionOneFilesDecodeWithTheFullFingerprintOnly()
    {
        var codec = ModelStore.Open("bmshj2018-hyperprior", 1);
        using var scope = NewDisposeScope();
        var x = SyntheticImages.Smooth(64, 64, seed: 9);
        var file = ImageCodec.Compress(codec, x);
        Assert.Equal(LicFile.CurrentVersion, file.Version);
        var dir = Directory.CreateTempSubdirectory("licb-ver-").FullName;
        try
        {
            var path = Path.Combine(dir, "v2.lic");
            file.Write(path);
            var v2 = File.ReadAllBytes(path);
            int offset = 4 + 1 + 1 + 1 + file.ModelName.Length + 1;     // magic, version, flags, name length, name, quality
            Assert.Equal(codec.Fingerprint, BinaryPrimitives.ReadUInt64LittleEndian(v2.AsSpan(offset)));

            var old = LicFile.Parse(AsVersion1(v2, codec.FullFingerprint, offset), "v1.lic");
            Assert.Equal(LicFile.FullFingerprintVersion, old.Version);
            Assert.True(ImageCodec.Decompress(codec, old).equal(ImageCodec.Decompress(codec, file)).all().item<bool>());

            var wrong = LicFile.Parse(AsVersion1(v2, codec.Fingerprint, offset), "v1-wrong.lic");
            var e = Assert.Throws<InvalidBitstreamException>(() => ImageCodec.Decompress(codec, wrong, "v1-wrong.lic"));
            Assert.Contains("other weights", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
