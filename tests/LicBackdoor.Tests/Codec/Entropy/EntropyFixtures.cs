using System.Globalization;
using System.Text.Json;
using LicBackdoor.Codec.Entropy;

namespace LicBackdoor.Tests.Codec.Entropy;

/// <summary>Lazily parsed CompressAI fixture files used by the entropy-coding tests.</summary>
internal static class EntropyFixtures
{
    private static readonly Lazy<JsonElement> PmfCases = Load("pmf_to_quantized_cdf.json");
    private static readonly Lazy<JsonElement> Gaussian = Load("gaussian_conditional.json");
    private static readonly Lazy<JsonElement> Bottleneck = Load("entropy_bottleneck.json");
    private static readonly Lazy<RansCdfTable> GaussianTableLazy = new(() =>
    {
        JsonElement g = Gaussian.Value;
        int[][] rows = g.GetProperty("quantized_cdf").EnumerateArray().Select(Ints).ToArray();
        int stride = rows[0].Length;
        return new RansCdfTable(rows.SelectMany(r => r).ToArray(), stride, Ints(g.GetProperty("cdf_length")), Ints(g.GetProperty("offset")));
    });

    public static JsonElement PmfToQuantizedCdf => PmfCases.Value;
    public static JsonElement GaussianConditional => Gaussian.Value;
    public static JsonElement EntropyBottleneck => Bottleneck.Value;

    /// <summary>The Gaussian-conditional table exactly as stored in the fixture.</summary>
    public static RansCdfTable GaussianTable => GaussianTableLazy.Value;

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public static float[] FloatsFromHex(JsonElement array) =>
        array.EnumerateArray().Select(e => BitConverter.UInt32BitsToSingle(uint.Parse(e.GetString()!, NumberStyles.HexNumber))).ToArray();

    /// <summary>float32 values stored as JSON numbers (the shortest double that round-trips the float).</summary>
    public static float[] Floats(JsonElement array) => array.EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();

    public static JsonElement Stream(string name) =>
        GaussianConditional.GetProperty("streams").EnumerateArray().Single(s => s.GetProperty("name").GetString() == name);

    public static IEnumerable<string> StreamNames() =>
        GaussianConditional.GetProperty("streams").EnumerateArray().Select(s => s.GetProperty("name").GetString()!);

    private static Lazy<JsonElement> Load(string fileName) => new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture(fileName)));
        return doc.RootElement.Clone();
    });
}
