using System.Globalization;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Defenses;

/// <summary>
/// An input-transformation defence (paper §4.4, Tables 5-6; method-spec §4.5): a fixed preprocessing the codec's user
/// applies to every image before compression, hoping to destroy the trigger. Maps <c>[N,3,H,W]</c> in [0, 1] to a
/// batch of the same shape in [0, 1], for any H and W (blur needs sides of at least 3).
/// </summary>
public interface IInputDefense
{
    /// <summary>The defence as <see cref="Defense.Parse"/> reads it: <c>none</c>, <c>blur:0.5</c>, <c>squeeze:3</c>.</summary>
    string Name { get; }

    /// <summary>The defended batch (a new tensor in the caller's dispose scope; the input is not changed).</summary>
    Tensor Apply(Tensor x);
}

/// <summary>No defence (Table 5's "None" column): returns a copy of the input.</summary>
public sealed class NoDefense : IInputDefense
{
    /// <inheritdoc/>
    public string Name => "none";

    /// <inheritdoc/>
    public Tensor Apply(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x.clone();
    }
}

/// <summary>Parses defence specifications and lists the paper's.</summary>
public static class Defense
{
    /// <summary>The forms <see cref="Parse"/> accepts.</summary>
    public const string Forms = "none, blur:SIGMA (5x5 Gaussian blur, SIGMA > 0, e.g. blur:0.5), squeeze:DEPTH (colour bits, DEPTH 1-8, e.g. squeeze:3)";

    /// <summary>
    /// Table 5's defences in its column order: none, Gaussian blur σ ∈ {0.2, 0.3, 0.5, 0.6}, squeezing depth ∈ {7, 4, 3}.
    /// </summary>
    public static IReadOnlyList<string> Table5 { get; } = ["none", "blur:0.2", "blur:0.3", "blur:0.5", "blur:0.6", "squeeze:7", "squeeze:4", "squeeze:3"];

    /// <summary>Table 6's defences (with the trigger amplified ×3): blur σ = 0.6 and squeezing depth 3.</summary>
    public static IReadOnlyList<string> Table6 { get; } = ["blur:0.6", "squeeze:3"];

    /// <summary>
    /// Reads <c>none</c>, <c>blur:SIGMA</c> or <c>squeeze:DEPTH</c> (case-insensitive, invariant culture numbers).
    /// </summary>
    /// <exception cref="ArgumentException">Any other text, a σ that is not a positive finite number, or a depth outside 1-8.</exception>
    public static IInputDefense Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var text = spec.Trim().ToLowerInvariant();
        if (text == "none") return new NoDefense();
        int colon = text.IndexOf(':');
        string kind = colon < 0 ? text : text[..colon], arg = colon < 0 ? "" : text[(colon + 1)..].Trim();
        switch (kind)
        {
            case "blur":
                if (!double.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out var sigma) || !double.IsFinite(sigma) || sigma <= 0)
                    throw new ArgumentException($"defence '{spec}': blur needs a positive σ, e.g. blur:0.5");
                return new GaussianBlurDefense(sigma);
            case "squeeze":
                if (!int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out var depth) || depth is < 1 or > 8)
                    throw new ArgumentException($"defence '{spec}': squeeze needs a bit depth from 1 to 8, e.g. squeeze:3");
                return new BitSqueezeDefense(depth);
            default:
                throw new ArgumentException($"unknown defence '{spec}'; expected {Forms}");
        }
    }
}
