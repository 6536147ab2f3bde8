using System.Globalization;

namespace LicBackdoor.Bench;

/// <summary>
/// The options of one bench command: <c>--name value</c> pairs and bare flags, each with the action that stores it.
/// <see cref="Apply"/> reads the arguments in order, so an option given twice keeps its last value unless its action
/// collects (e.g. <c>--run</c> of noise-gap).
/// </summary>
internal sealed class BenchArgs(string command)
{
    private readonly Dictionary<string, Action<string>> valued = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Action> flags = new(StringComparer.Ordinal);

    /// <summary>An option that takes a value; <paramref name="set"/> may throw <see cref="FormatException"/> on a bad one.</summary>
    public BenchArgs Value(string name, Action<string> set)
    {
        valued.Add(name, set);
        return this;
    }

    /// <summary>An option without a value.</summary>
    public BenchArgs Flag(string name, Action set)
    {
        flags.Add(name, set);
        return this;
    }

    /// <summary>
    /// Applies <paramref name="args"/>; false, after a message on standard error naming the command and the option, on
    /// an unknown option, a missing value or a value its action refuses.
    /// </summary>
    public bool Apply(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (flags.TryGetValue(name, out var flag))
            {
                flag();
                continue;
            }
            if (!valued.TryGetValue(name, out var set))
                return Fail($"unknown option '{name}' (options: {string.Join(", ", valued.Keys.Concat(flags.Keys).Order(StringComparer.Ordinal))})");
            if (i + 1 >= args.Length) return Fail($"{name} needs a value");
            var value = args[++i];
            try
            {
                set(value);
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                return Fail($"{name}: '{value}' is not a valid value ({e.Message})");
            }
        }
        return true;
    }

    private bool Fail(string message)
    {
        Console.Error.WriteLine($"{command}: {message}");
        return false;
    }

    /// <summary>An integer in the invariant culture.</summary>
    public static int Int(string v) => int.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>A 64-bit integer in the invariant culture.</summary>
    public static long Long(string v) => long.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>An unsigned 64-bit integer in the invariant culture.</summary>
    public static ulong ULong(string v) => ulong.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>A finite number in the invariant culture.</summary>
    public static double Double(string v)
    {
        double d = double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsFinite(d) ? d : throw new FormatException("not a finite number");
    }
}
