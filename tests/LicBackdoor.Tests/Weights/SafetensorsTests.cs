using System.Buffers.Binary;
using System.Text;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Weights;

public sealed class SafetensorsTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-st-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void RoundTripsEveryDtypeAndMetadata()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 4), ["f64"] = randn(2, dtype: ScalarType.Float64), ["f16"] = randn(5).to_type(ScalarType.Float16),
            ["bf16"] = randn(5).to_type(ScalarType.BFloat16), ["i64"] = tensor(new long[] { -1, 1L << 40 }), ["i32"] = tensor(new[] { 1, -2, 3 }),
            ["u8"] = tensor(new byte[] { 0, 255 }), ["bool"] = tensor(new[] { true, false }), ["scalar"] = tensor(3.5f), ["empty"] = zeros(0, 4),
        };
        var path = Path.Combine(dir, "a.safetensors");
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["k"] = "v" });
        var (back, meta) = Safetensors.Load(path);
        Assert.Equal("v", meta["k"]);
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.dtype, back[k].dtype);
            Assert.Equal(t.shape, back[k].shape);
            Assert.True(t.equal(back[k]).all().item<bool>(), k);
        }
        // the header is 8-byte aligned and the data follows it directly
        var bytes = System.IO.File.ReadAllBytes(path);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8);
    }

    [Fact]
    public void AChangedByteAnywhereInAFileOfOursIsRefusedByItsChecksum()
    {
        var path = Path.Combine(dir, "c.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = arange(6, dtype: ScalarType.Float32).reshape(2, 3), ["n"] = tensor(new long[] { 7 }) },
                         new Dictionary<string, string> { ["k"] = "v" });
        var (_, meta) = Safetensors.Load(path);
        Assert.Matches("^[0-9a-f]{64}$", meta[Safetensors.ChecksumKey]);
        var good = File.ReadAllBytes(path);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(good);

        var flipped = (byte[])good.Clone();
        flipped[headerEnd + 5] ^= 0x10;                                   // one bit of the float data
        var e = Assert.Throws<CheckpointFormatException>(() => Safetensors.Parse(flipped, "flipped.safetensors"));
        Assert.Contains("flipped.safetensors", e.Message);
        Assert.Contains("checksum mismatch", e.Message);

        // A consistent header lie (same size, another dtype; another metadata value) is caught too.
        var text = Encoding.UTF8.GetString(good, 8, headerEnd - 8);
        foreach (var (from, to) in new[] { ("\"F32\"", "\"I32\""), ("\"k\":\"v\"", "\"k\":\"w\"") })
        {
            Assert.Contains(from, text);
            var lied = good.ToArray();
            Encoding.UTF8.GetBytes(text.Replace(from, to, StringComparison.Ordinal)).CopyTo(lied, 8);
            Assert.Contains("checksum mismatch", Assert.Throws<CheckpointFormatException>(() => Safetensors.Parse(lied, "lied.safetensors")).Message);
        }

        // Files written elsewhere carry no checksum and load as before.
        var foreign = Bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
        Assert.Equal([2L], Safetensors.Parse(foreign, "foreign.safetensors").Tensors["a"].shape);
    }

    [Fact]
    public void AFolderSha256SumsListIsChecked()
    {
        var listed = Path.Combine(dir, "listed.safetensors");
        var other = Path.Combine(dir, "other.safetensors");
        File.WriteAllBytes(listed, Bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
        File.Copy(listed, other);
        var digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(listed))).ToLowerInvariant();
        File.WriteAllText(Path.Combine(dir, Safetensors.SumsFileName), $"{digest}  listed.safetensors\n");
        Assert.Single(Safetensors.Load(listed).Tensors);
        var bytes = File.ReadAllBytes(listed);
        bytes[^1] ^= 1;
        File.WriteAllBytes(listed, bytes);
        File.WriteAllBytes(other, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => Safetensors.Load(listed));
        Assert.Contains(listed, e.Message);
        Assert.Contains("does not match SHA256SUMS", e.Message);
        Assert.Single(Safetensors.Load(other).Tensors);            // not listed: loads
    }

    private static byte[] Bytes(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
        h.CopyTo(b, 8);
        return b;
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside the file")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, "needs 12 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unsupported dtype")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "invalid shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", 4, "malformed")]
    [InlineData("{\"a\":{\"dtype\":\"F32\"}}", 4, "malformed")]
    [InlineData("not json", 0, "not JSON")]
    [InlineData("[1,2]", 0, "not a JSON object")]
    public void HostileHeadersAreRefusedWithTheFileName(string header, int dataBytes, string expect)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => Safetensors.Parse(Bytes(header, dataBytes), "bad.safetensors"));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains(expect, e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRefused()
    {
        var b = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, ulong.MaxValue);
        Assert.Throws<CheckpointFormatException>(() => Safetensors.Parse(b, "x"));
        Assert.Throws<CheckpointFormatException>(() => Safetensors.Parse(new byte[3], "x"));
    }
}
