using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using LicBackdoor.Weights;

namespace LicBackdoor.Tests.Weights;

/// <summary>
/// The regression corpus of the checkpoint fuzzer (<c>LicBackdoor.Bench fuzz-weights --seed 1</c>; docs/ROBUSTNESS.md):
/// one folder per format × refusal reason, each holding the mutated file (and, for TF.js, its shard). Every one is
/// refused with a <see cref="CheckpointFormatException"/> naming the file; plus the crashes the fuzzer found, fixed.
/// </summary>
public sealed class FuzzCorpusTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-wfuzz-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "weights");

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var d in Directory.GetDirectories(Folder).Order(StringComparer.Ordinal)) data.Add(Path.GetFileName(d));
        return data;
    }

    private static string Target(string caseDir)
    {
        var files = Directory.GetFiles(caseDir);
        return files.FirstOrDefault(f => f.EndsWith(".json", StringComparison.Ordinal)) ?? Assert.Single(files);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryCorpusFileIsRefusedNamingTheFile(string name)
    {
        var path = Target(Path.Combine(Folder, name));
        var e = Assert.Throws<CheckpointFormatException>(() => WeightsFile.Load(path));
        Assert.NotNull(e.FileName);
        Assert.Contains(Path.GetFileName(e.FileName!), e.Message, StringComparison.Ordinal);
        Assert.StartsWith(Path.Combine(Folder, name), e.FileName!, StringComparison.Ordinal);
        if (name.Contains("global", StringComparison.Ordinal)) Assert.Contains("refused global", e.Message, StringComparison.Ordinal);
        if (name.Contains("CRC", StringComparison.Ordinal)) Assert.Contains("CRC-32", e.Message, StringComparison.Ordinal);
    }

    private static byte[] Safetensors(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(b, json.Length);
        json.CopyTo(b, 8);
        return b;
    }

    [Theory]
    [InlineData(new byte[] { 0xff, 0xfe }, "not valid UTF-8")]           // invalid UTF-8 in a tensor name (was InvalidOperationException)
    [InlineData(new byte[] { 0xc3 }, "not valid UTF-8")]                 // truncated sequence
    public void InvalidUtf8InASafetensorsHeaderIsRefused(byte[] bad, string expect)
    {
        var header = Encoding.UTF8.GetBytes("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"X":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""");
        int at = Array.IndexOf(header, (byte)'X');
        var json = header[..at].Concat(bad).Concat(header[(at + 1)..]).ToArray();
        var b = new byte[8 + json.Length + 8];
        BinaryPrimitives.WriteInt64LittleEndian(b, json.Length);
        json.CopyTo(b, 8);
        var path = Path.Combine(dir, "utf8.safetensors");
        File.WriteAllBytes(path, b);
        var e = Assert.Throws<CheckpointFormatException>(() => LicBackdoor.Weights.Safetensors.Load(path));
        Assert.Contains("utf8.safetensors", e.Message, StringComparison.Ordinal);
        Assert.Contains(expect, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8, "4 bytes after the last tensor")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "bytes 0..4 of the data section belong to no tensor")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "overlap")]
    public void SafetensorsDataMustBeTiledExactly(string header, int dataBytes, string expect)
    {
        var path = Path.Combine(dir, "tiles.safetensors");
        File.WriteAllBytes(path, Safetensors(header, dataBytes));
        var e = Assert.Throws<CheckpointFormatException>(() => LicBackdoor.Weights.Safetensors.Load(path));
        Assert.Contains("tiles.safetensors", e.Message, StringComparison.Ordinal);
        Assert.Contains(expect, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidUtf8InATfJsManifestIsRefused()
    {
        File.WriteAllBytes(Path.Combine(dir, "s.bin"), new byte[4]);
        var json = Encoding.UTF8.GetBytes("""[{"paths":["s.bin"],"weights":[{"name":"N","shape":[1],"dtype":"float32"}]}]""");
        json[Array.IndexOf(json, (byte)'N')] = 0xff;
        var path = Path.Combine(dir, "m.json");
        File.WriteAllBytes(path, json);
        var e = Assert.Throws<CheckpointFormatException>(() => TfJsWeights.Load(path));
        Assert.Contains("m.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("not valid UTF-8", e.Message, StringComparison.Ordinal);
    }

    private static byte[] OneTensorPickle() => new PickleBytes().Proto().OrderedDict().Mark()
        .Str("w").Tensor("FloatStorage", "0", 4, 0, [4], [1]).SetItems().Stop().ToArray();

    [Theory]
    [InlineData(CompressionLevel.NoCompression)]
    [InlineData(CompressionLevel.Optimal)]
    public void AZipRecordWhoseBytesDoNotMatchItsCrcIsRefused(CompressionLevel level)
    {
        var path = Path.Combine(dir, "crc.pth");
        var data = CheckpointFiles.Floats(1, 2, 3, 4);
        CheckpointFiles.Zip(path, OneTensorPickle(), new Dictionary<string, byte[]> { ["0"] = data }, level: level);
        Assert.Equal(4, TorchCheckpoint.LoadStateDict(path)["w"].shape[0]); // intact: loads
        // Damage the stored CRC-32 of the storage record in the central directory (the data itself for stored records).
        var bytes = File.ReadAllBytes(path);
        var name = Encoding.ASCII.GetBytes("archive/data/0");
        int central = bytes.AsSpan().LastIndexOf(name);            // central directory entry name
        int crcAt = central - 46 + 16;                             // CRC-32 field of that central header
        bytes[crcAt] ^= 0x01;
        int local = bytes.AsSpan().IndexOf(name);                  // local header: its CRC too (offset 14)
        bytes[local - 30 + 14] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpoint.Load(path));
        Assert.Contains("crc.pth", e.Message, StringComparison.Ordinal);
        Assert.Contains("CRC-32", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ALegacyCheckpointWithTrailingBytesIsRefused()
    {
        var path = Path.Combine(dir, "legacy.pth");
        CheckpointFiles.Legacy(path, OneTensorPickle(), [("0", 4, CheckpointFiles.Floats(1, 2, 3, 4))]);
        Assert.Single(TorchCheckpoint.LoadStateDict(path));
        File.AppendAllText(path, "garbage");
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpoint.Load(path));
        Assert.Contains("legacy.pth", e.Message, StringComparison.Ordinal);
        Assert.Contains("7 bytes after the last storage", e.Message, StringComparison.Ordinal);
    }
}
