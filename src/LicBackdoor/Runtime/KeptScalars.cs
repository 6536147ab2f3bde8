using TorchSharp;

namespace LicBackdoor.Runtime;

/// <summary>
/// Scalars held for the whole process. An implicit conversion (<c>x * 255f</c>) makes a temporary
/// <see cref="Scalar"/> that nothing references once its handle is passed to libtorch, so a garbage
/// collection on another thread (e.g. a progress bar's) can finalise it during the native call, which then
/// fails with "Unknown scalar type" (seen once in a CamVid evaluation). Hot loops use these instead, or a
/// <c>using var s = v.ToScalar();</c> for values that change.
/// </summary>
public static class KeptScalars
{
    /// <summary>255: [0, 1] to grey levels.</summary>
    public static readonly Scalar GreyLevels = 255f.ToScalar();

    /// <summary>0.</summary>
    public static readonly Scalar Zero = 0f.ToScalar();

    /// <summary>1.</summary>
    public static readonly Scalar One = 1f.ToScalar();

    /// <summary>-1 (<c>a.add(b, MinusOne)</c> is <c>a - b</c> without the operator's temporary alpha).</summary>
    public static readonly Scalar MinusOne = (-1f).ToScalar();
}
