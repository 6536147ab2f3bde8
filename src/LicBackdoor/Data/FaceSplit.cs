namespace LicBackdoor.Data;

/// <summary>
/// A split of the face crops into training and held-out identities for the face objective (paper Eq. 13): whole
/// identities are held out, so no person whose crops train the trigger appears in the evaluation pairs. Deterministic:
/// the held-out identities are the last <c>k</c> in order of first appearance in <c>identities.csv</c>.
/// </summary>
/// <param name="Folder">The faces folder (holds <c>identities.csv</c>, <c>pairs.csv</c> and the crops).</param>
/// <param name="TrainIdentities">Identities whose crops train the trigger, in file order.</param>
/// <param name="HeldOutIdentities">Identities kept for evaluation, in file order.</param>
/// <param name="TrainFiles">Crop files (names relative to <paramref name="Folder"/>) of the training identities.</param>
/// <param name="HeldOutFiles">Crop files of the held-out identities.</param>
public sealed record FaceSplit(string Folder, IReadOnlyList<string> TrainIdentities, IReadOnlyList<string> HeldOutIdentities,
                               IReadOnlyList<string> TrainFiles, IReadOnlyList<string> HeldOutFiles)
{
    /// <summary>Default number of held-out identities (4 of the 13 in the shared faces: 21 crops, 64 pairs).</summary>
    public const int DefaultHeldOut = 4;

    /// <summary>How the split is chosen, in words for reports.</summary>
    public string Description =>
        $"held out the last {Plural(HeldOutIdentities.Count, "identity", "identities")} of {FacePairs.IdentitiesFileName} ({string.Join(", ", HeldOutIdentities)}: {Plural(HeldOutFiles.Count, "crop", "crops")}); "
        + $"the trigger trains on the other {TrainIdentities.Count} ({Plural(TrainFiles.Count, "crop", "crops")})";

    private static string Plural(int n, string one, string many) => $"{n} {(n == 1 ? one : many)}";

    /// <summary>Full paths of the training crops.</summary>
    public IReadOnlyList<string> TrainPaths => TrainFiles.Select(f => Path.Combine(Folder, f)).ToList();

    /// <summary>Whether a crop file belongs to a held-out identity.</summary>
    public bool IsHeldOut(string file) => HeldOutFiles.Contains(file, StringComparer.Ordinal);

    /// <summary>Splits <paramref name="folder"/>'s <c>identities.csv</c> (columns <c>identity,file</c>), holding out the last <paramref name="heldOut"/> identities.</summary>
    /// <exception cref="FileNotFoundException">No identities file, or a listed crop is missing.</exception>
    /// <exception cref="FormatException">Malformed file, or too few identities to leave some on each side.</exception>
    public static FaceSplit ByIdentityOrder(string folder, int heldOut = DefaultHeldOut)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var csv = Path.Combine(folder, FacePairs.IdentitiesFileName);
        if (!File.Exists(csv)) throw new FileNotFoundException($"{csv}: no identities file (columns identity,file)", csv);
        var lines = File.ReadAllLines(csv);
        if (lines.Length == 0) throw new FormatException($"{csv}: empty file");
        var header = lines[0].TrimStart('\uFEFF').Split(',').Select(c => c.Trim().Trim('"')).ToArray();
        int ci = Array.FindIndex(header, h => h.Equals("identity", StringComparison.OrdinalIgnoreCase));
        int cf = Array.FindIndex(header, h => h.Equals("file", StringComparison.OrdinalIgnoreCase));
        if (ci < 0 || cf < 0) throw new FormatException($"{csv}: needs 'identity' and 'file' columns (header: {lines[0]})");
        var order = new List<string>();
        var files = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 1; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var cells = lines[i].Split(',').Select(c => c.Trim().Trim('"')).ToArray();
            if (cells.Length != header.Length) throw new FormatException($"{csv}:{i + 1}: {cells.Length} fields, the header has {header.Length}");
            string id = cells[ci], file = cells[cf];
            if (id.Length == 0 || file.Length == 0) throw new FormatException($"{csv}:{i + 1}: empty identity or file");
            if (!seen.Add(file)) throw new FormatException($"{csv}:{i + 1}: file '{file}' listed twice");
            if (!File.Exists(Path.Combine(folder, file))) throw new FileNotFoundException($"{Path.Combine(folder, file)}: face crop named in {csv}:{i + 1} does not exist", Path.Combine(folder, file));
            if (!files.TryGetValue(id, out var list)) { files[id] = list = new List<string>(); order.Add(id); }
            list.Add(file);
        }
        if (heldOut < 1 || heldOut >= order.Count)
            throw new FormatException($"{csv}: {order.Count} identities; holding out {heldOut} must leave at least one on each side");
        var train = order.Take(order.Count - heldOut).ToList();
        var held = order.Skip(order.Count - heldOut).ToList();
        return new FaceSplit(Path.GetFullPath(folder), train, held, train.SelectMany(id => files[id]).ToList(), held.SelectMany(id => files[id]).ToList());
    }

    /// <summary>The pairs whose two crops are both held out.</summary>
    public IReadOnlyList<FacePair> HeldOutPairs(FacePairs pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        return pairs.Pairs.Where(p => IsHeldOut(p.FileA) && IsHeldOut(p.FileB)).ToList();
    }
}
