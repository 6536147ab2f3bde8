using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace LicBackdoor.Weights;

/// <summary>
/// Maps the key spellings found in CompressAI checkpoints of every age to the current ones
/// (compressai/zoo/pretrained.py and models/utils.py describe the same renamings): a DataParallel
/// <c>module.</c> prefix is dropped, <c>.downsample.</c> becomes <c>.skip.</c>, and the entropy
/// bottleneck's <c>_matrices.i</c>/<c>_matrix{i}</c> (and biases, factors) become <c>matrices.i</c>.
/// </summary>
public static partial class CompressAiKeys
{
    [GeneratedRegex(@"^(?<p>.*entropy_bottleneck\.)_(?<kind>matrices|biases|factors)\.(?<i>\d+)$")]
    private static partial Regex OldestList();

    [GeneratedRegex(@"^(?<p>.*entropy_bottleneck\.)_(?<kind>matrix|bias|factor)(?<i>\d+)$")]
    private static partial Regex Numbered();

    /// <summary>The current key for one checkpoint key.</summary>
    public static string Map(string key)
    {
        if (key.StartsWith("module.", StringComparison.Ordinal)) key = key["module.".Length..];
        key = key.Replace(".downsample.", ".skip.", StringComparison.Ordinal);
        var m = OldestList().Match(key);
        if (m.Success) return $"{m.Groups["p"].Value}{m.Groups["kind"].Value}.{m.Groups["i"].Value}";
        m = Numbered().Match(key);
        if (m.Success)
        {
            string kind = m.Groups["kind"].Value switch { "matrix" => "matrices", "bias" => "biases", _ => "factors" };
            return $"{m.Groups["p"].Value}{kind}.{m.Groups["i"].Value}";
        }
        return key;
    }

    /// <summary>Renames every key; two keys that map to the same name are an error naming both.</summary>
    public static Dictionary<string, Tensor> Remap(IReadOnlyDictionary<string, Tensor> stateDict, string fileName)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var from = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in stateDict)
        {
            var mapped = Map(key);
            if (from.TryGetValue(mapped, out var other))
                throw new CheckpointFormatException($"{fileName}: keys '{other}' and '{key}' both mean '{mapped}'", fileName);
            from[mapped] = key;
            result[mapped] = value;
        }
        return result;
    }
}
