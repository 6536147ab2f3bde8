namespace LicBackdoor.Data;

/// <summary>
/// A small seeded generator (SplitMix64) whose whole state is one <see cref="ulong"/>, so a training run can
/// save it in a checkpoint and resume with exactly the same crops.
/// </summary>
public sealed class SplitMix64
{
    public SplitMix64(ulong state) => State = state;

    /// <summary>The full generator state.</summary>
    public ulong State { get; set; }

    public ulong NextUInt64()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, maxExclusive).</summary>
    public int Next(int maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive));
        return (int)(NextUInt64() % (ulong)maxExclusive);
    }

    /// <summary>Uniform double in [0, 1) (the top 53 bits).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform double in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public double NextDouble(double min, double max) => min + (max - min) * NextDouble();

    /// <summary>A fair coin.</summary>
    public bool NextBool() => (NextUInt64() >> 63) != 0;
}
