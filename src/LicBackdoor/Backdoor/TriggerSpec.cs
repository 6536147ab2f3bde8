using LicBackdoor.Backdoor.Triggers;

namespace LicBackdoor.Backdoor;

/// <summary>
/// Which trigger an attack learns and with what options: <c>frequency</c> (the paper's, <see cref="FrequencyTrigger"/>),
/// <c>lira</c> (<see cref="LiraTrigger"/>) or <c>ftrojan</c> (<see cref="FTrojanTrigger"/>, fixed, nothing to learn).
/// </summary>
/// <param name="Kind">frequency, lira or ftrojan.</param>
/// <param name="WidthMultiplier">Scales the trigger networks' conv widths (1 = the paper's/authors' widths).</param>
/// <param name="K">Frequency trigger: frequencies kept by top-K.</param>
/// <param name="Nf">Frequency trigger: candidate middle frequencies N.</param>
/// <param name="TopK">Frequency trigger: false is Table 4's "w/o topK".</param>
/// <param name="PatchWeight">Frequency trigger: false is Table 4's "w/o patch-wise weight".</param>
/// <param name="Set">Frequency trigger: which positions make up the middle frequencies.</param>
public sealed record TriggerSpec(
    string Kind = TriggerSpec.Frequency,
    double WidthMultiplier = 1.0,
    int K = 16,
    int Nf = 64,
    bool TopK = true,
    bool PatchWeight = true,
    FrequencySet Set = FrequencySet.AsImplemented)
{
    public const string Frequency = "frequency", Lira = "lira", FTrojan = "ftrojan";

    /// <summary>The trigger kinds.</summary>
    public static IReadOnlyList<string> Kinds { get; } = [Frequency, Lira, FTrojan];

    /// <summary>A fresh (randomly initialised, seeded by the caller's torch seed) trigger.</summary>
    /// <exception cref="ArgumentException">Unknown kind or option out of range.</exception>
    public ITrigger Build() => Kind switch
    {
        Frequency => new FrequencyTrigger(new FrequencyTriggerOptions(K, Nf, TopK, PatchWeight, WidthMultiplier, Set)),
        Lira => new LiraTrigger(new LiraTriggerOptions(WidthMultiplier: WidthMultiplier)),
        FTrojan => new FTrojanTrigger(),
        _ => throw new ArgumentException($"unknown trigger '{Kind}' ({string.Join(", ", Kinds)})"),
    };

    /// <summary>A short label for tables: the kind, with the options that differ from the defaults.</summary>
    public string Label
    {
        get
        {
            var parts = new List<string>();
            if (WidthMultiplier != 1.0 && Kind != FTrojan) parts.Add($"width ×{WidthMultiplier:G3}");
            if (Kind == Frequency)
            {
                if (K != 16 || Nf != 64) parts.Add($"K={K}, N={Nf}");
                if (!TopK) parts.Add("no top-K");
                if (!PatchWeight) parts.Add("no patch weight");
                if (Set != FrequencySet.AsImplemented) parts.Add(Set.ToString());
            }
            return parts.Count == 0 ? Kind : $"{Kind} ({string.Join(", ", parts)})";
        }
    }
}
