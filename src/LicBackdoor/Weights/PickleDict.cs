using System.Collections;
using System.Numerics;

namespace LicBackdoor.Weights;

/// <summary>
/// A Python <c>dict</c> or <c>collections.OrderedDict</c> read from a pickle by <see cref="TorchCheckpoint"/>:
/// entries in insertion order, looked up by key with Python's equality for the key types a checkpoint
/// uses (<see cref="string"/>, <see cref="long"/> (also matching <see cref="bool"/> and integral
/// <see cref="double"/> keys, as in Python), <see cref="BigInteger"/>, <see cref="byte"/>[] and tuples
/// (<c>object?[]</c>) of those). Read-only for callers.
/// </summary>
public sealed class PickleDict : IEnumerable<KeyValuePair<object, object?>>
{
    private readonly List<object> keys = [];
    private readonly List<object?> values = [];
    private readonly Dictionary<object, int> index = new(PickleKeyComparer.Instance);

    /// <summary>Number of entries.</summary>
    public int Count => keys.Count;

    /// <summary>The keys in insertion order.</summary>
    public IReadOnlyList<object> Keys => keys;

    /// <summary>The values in insertion order.</summary>
    public IReadOnlyList<object?> Values => values;

    /// <summary>
    /// The state a pickle's <c>BUILD</c> gave the object, or null. For a PyTorch state dict this is the
    /// instance dictionary of the <c>OrderedDict</c>, holding its <c>_metadata</c> (module versions).
    /// </summary>
    public object? State { get; internal set; }

    /// <summary>The value under <paramref name="key"/>; <see cref="KeyNotFoundException"/> if absent.</summary>
    public object? this[object key] =>
        TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"key '{key}' is not in the dict");

    /// <summary>True when the dict has <paramref name="key"/>.</summary>
    public bool ContainsKey(object key) => index.ContainsKey(key);

    /// <summary>Looks <paramref name="key"/> up.</summary>
    public bool TryGetValue(object key, out object? value)
    {
        if (index.TryGetValue(key, out int i)) { value = values[i]; return true; }
        value = null;
        return false;
    }

    /// <summary>Python's <c>d[key] = value</c>: replaces in place when the key exists, else appends.</summary>
    internal void Set(object key, object? value)
    {
        if (index.TryGetValue(key, out int i)) { values[i] = value; return; }
        index.Add(key, keys.Count);
        keys.Add(key);
        values.Add(value);
    }

    /// <summary>Replaces the value of entry <paramref name="i"/> (used when placeholders become tensors).</summary>
    internal void SetValueAt(int i, object? value) => values[i] = value;

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<object, object?>> GetEnumerator()
    {
        for (int i = 0; i < keys.Count; i++) yield return new(keys[i], values[i]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>True for the values Python can hash and this reader can compare (see the class summary).</summary>
    internal static bool IsHashable(object? key) => key switch
    {
        null => false,
        string or long or bool or double or BigInteger or byte[] => true,
        object?[] tuple => tuple.All(item => item is null || IsHashable(item)),
        _ => false,
    };

    /// <summary>Python key equality for the hashable pickle values: 1 == 1.0 == True, tuples and bytes by content.</summary>
    private sealed class PickleKeyComparer : IEqualityComparer<object>
    {
        public static readonly PickleKeyComparer Instance = new();

        private static object Normalize(object o) => o switch
        {
            bool b => b ? 1L : 0L,
            BigInteger big when big >= long.MinValue && big <= long.MaxValue => (long)big,
            double d when d == Math.Floor(d) && d >= -9.2e18 && d <= 9.2e18 => (long)d,
            _ => o,
        };

        public new bool Equals(object? x, object? y)
        {
            if (x is null || y is null) return x is null && y is null;
            x = Normalize(x);
            y = Normalize(y);
            return (x, y) switch
            {
                (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
                (long a, long b) => a == b,
                (double a, double b) => a.Equals(b),
                (BigInteger a, BigInteger b) => a == b,
                (byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b),
                (object?[] a, object?[] b) => a.Length == b.Length && a.Zip(b).All(p => Equals(p.First, p.Second)),
                _ => false,
            };
        }

        public int GetHashCode(object obj)
        {
            obj = Normalize(obj);
            switch (obj)
            {
                case string s: return StringComparer.Ordinal.GetHashCode(s);
                case byte[] bytes:
                {
                    var h = new HashCode();
                    h.AddBytes(bytes);
                    return h.ToHashCode();
                }
                case object?[] tuple:
                {
                    var h = new HashCode();
                    foreach (var item in tuple) h.Add(item is null ? 0 : GetHashCode(item));
                    return h.ToHashCode();
                }
                default: return obj.GetHashCode();
            }
        }
    }
}
