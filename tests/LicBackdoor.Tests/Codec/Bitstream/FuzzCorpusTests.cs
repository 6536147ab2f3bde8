using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Zoo;

namespace LicBackdoor.Tests.Codec.Bitstream;

/// <summary>
/// The regression corpus of the bitstream fuzzer (<c>LicBackdoor.Bench fuzz-lic --seed 1</c>, first case of each
/// class × mutation × outcome; docs/ROBUSTNESS.md): mutated <c>.lic</c> files of 64x64, 96x64 and 17x9 Kodak crops
/// written by the shipped hyperprior-mini q3. The name says what each file is: <c>a-</c> mutated as is, <c>b-</c>
/// mutated with the checksum recomputed, then the mutation and the outcome the fuzzer saw. Every file is refused with
/// an <see cref="InvalidBitstreamException"/> naming it, at the stage the name gives, except the forged (<c>b-</c>)
/// files that are valid bitstreams of another image, which decode.
/// </summary>
public sealed class FuzzCorpusTests : TorchTest
{
    /// <summary>The decoder fingerprint of the shipped q3 weights the corpus was written with.</summary>
    private const ulong CorpusFingerprint = 0xca1ef028254471ca;

    private const long MaxPixels = 1L << 20; // the fuzz run's cap

    private static readonly Lazy<LoadedCodec> Codec = new(() => ModelStore.Open("bmshj2018-hyperprior", 3));

    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "lic");

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Folder, "*.lic").Order(StringComparer.Ordinal)) data.Add(Path.GetFileName(f));
        return data;
    }

    [Fact]
    public void TheCorpusWasWrittenWithTheShippedQ3()
    {
        // Otherwise every file is refused at the fingerprint check, before the stages the file names.
        Assert.True(Codec.Value.Fingerprint == CorpusFingerprint,
            $"the shipped q3 (fingerprint 0x{Codec.Value.Fingerprint:x16}) is not the one the corpus was written with: regenerate it " +
            "(LicBackdoor.Bench fuzz-lic --cases 100000 --seed 1, then copy its corpus/*-0.lic here; docs/ROBUSTNESS.md §1)");
    }

    [Fact]
    public void TheCorpusIsSmallAndCoversEveryStage()
    {
        var files = Directory.GetFiles(Folder, "*.lic");
        Assert.InRange(files.Length, 20, 100);
        Assert.True(files.Sum(f => new FileInfo(f).Length) < 100_000);
        foreach (var stage in new[] { "checksum", "container_structure", "entropy_decoding_rANS", "header_vs_codec", "pixel_cap", "decoded" })
            Assert.Contains(files, f => Path.GetFileName(f).Contains(stage, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryCorpusFileIsRefusedWithATypedErrorOrIsAForgedValidFile(string name)
    {
        var path = Path.Combine(Folder, name);
        var codec = Codec.Value;
        if (name.Contains("decoded", StringComparison.Ordinal))
        {
            Assert.StartsWith("b-", name, StringComparison.Ordinal); // only forged checksums may decode
            using var x = ImageCodec.Decompress(codec, LicFile.Read(path), path, MaxPixels);
            Assert.Equal(3, x.shape[1]);
            return;
        }
        var e = Assert.Throws<InvalidBitstreamException>(() => ImageCodec.Decompress(codec, LicFile.Read(path), path, MaxPixels));
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
        if (name.Contains("checksum", StringComparison.Ordinal)) Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
        if (name.Contains("pixel_cap", StringComparison.Ordinal)) Assert.Contains("decoding cap", e.Message, StringComparison.Ordinal);
        if (name.Contains("rANS", StringComparison.Ordinal)) Assert.IsType<InvalidBitstreamException>(e.InnerException);
        if (name.Contains("header_vs_codec", StringComparison.Ordinal))
            Assert.Matches("was written|does not match image size|expected 2 strings", e.Message);
    }

    [Fact]
    public void AHugeButConsistentHeaderIsRefusedByThePixelCapBeforeDecoding()
    {
        // 65536x65536 (the container's largest side) with a consistent latent size: refused from the header alone.
        var codec = Codec.Value;
        var file = new LicFile(codec.Model.ModelName, codec.Quality, codec.Fingerprint, 1 << 16, 1 << 16, 1024, 1024, [new byte[8], new byte[8]]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidBitstreamException>(() => ImageCodec.Decompress(codec, file, "huge.lic"));
        Assert.Contains("huge.lic", e.Message, StringComparison.Ordinal);
        Assert.Contains($"decoding cap of {ImageCodec.DefaultMaxPixels} pixels", e.Message, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageCodec.Decompress(codec, file, "huge.lic", 0));
    }
}
