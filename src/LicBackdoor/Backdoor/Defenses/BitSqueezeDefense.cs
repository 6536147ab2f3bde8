using System.Globalization;
using static TorchSharp.torch;

namespace LicBackdoor.Backdoor.Defenses;

/// <summary>
/// Colour-bit squeezing (paper Table 5, "Squeeze"; method-spec §4.5, the authors' <c>transform_scb</c>):
/// x ← ⌊x·(2^d − 1)⌋ / (2^d − 1) per channel, i.e. the Python <c>int(·)</c> of the spec, which <b>truncates</b> (it
/// does not round). A depth d leaves at most 2^d levels per channel; d = 8 is the identity on 8-bit images.
/// <para>
/// To keep that identity exact in floating point (k/255 stored as float32 times 255 can land just below k), the
/// floor is taken of x·(2^d − 1) + 1e-4. For 8-bit inputs this changes nothing else: x·(2^d − 1) = k·(2^d − 1)/255 is
/// either an integer or at least 1/255 away from the next one.
/// </para>
/// </summary>
public sealed class BitSqueezeDefense : IInputDefense
{
    /// <summary>The tolerance (in levels) added before the floor; see the class remarks.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>Squeezing to <paramref name="depth"/> bits per channel (7, 4 and 3 in the paper).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A depth outside 1-8.</exception>
    public BitSqueezeDefense(int depth)
    {
        if (depth is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(depth), depth, "the bit depth must be 1 to 8");
        Depth = depth;
    }

    /// <summary>Bits per channel.</summary>
    public int Depth { get; }

    /// <summary>The top level 2^d − 1.</summary>
    public int Levels => (1 << Depth) - 1;

    /// <inheritdoc/>
    public string Name => string.Create(CultureInfo.InvariantCulture, $"squeeze:{Depth}");

    /// <inheritdoc/>
    public Tensor Apply(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        double l = Levels;
        return (x.clamp(0, 1) * l + Tolerance).floor().clamp(0, l).div(l).MoveToOuterDisposeScope();
    }
}
