namespace LicBackdoor.Data;

/// <summary>One labelled verification pair: two face crops and whether they show the same person.</summary>
public sealed record FacePair(string FileA, string FileB, bool Same);

/// <summary>
/// Labelled face-verification pairs: <c>pairs.csv</c> (columns <c>file_a,file_b,same</c>, same = 1 or 0) and,
/// when present beside it, <c>identities.csv</c> (columns <c>identity,file</c>). File names are relative to the
/// CSV's folder. When identities are known, every pair's label is checked against them.
/// </summary>
public sealed class FacePairs
{
    /// <summary>The pairs file's name in <c>&lt;data&gt;/faces</c>.</summary>
    public const string PairsFileName = "pairs.csv";

    /// <summary>The identities file's name, beside the pairs file.</summary>
    public const string IdentitiesFileName = "identities.csv";

    private FacePairs(string folder, IReadOnlyList<FacePair> pairs, IReadOnlyDictionary<string, string> identities)
    {
        Folder = folder;
        Pairs = pairs;
        Identities = identities;
        Files = pairs.SelectMany(p => new[] { p.FileA, p.FileB }).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>The folder the file names are relative to.</summary>
    public string Folder { get; }

    /// <summary>The pairs, in file order.</summary>
    public IReadOnlyList<FacePair> Pairs { get; }

    /// <summary>Identity of each file (empty when no identities file was found).</summary>
    public IReadOnlyDictionary<string, string> Identities { get; }

    /// <summary>Every file used by some pair, each once, sorted.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Number of same-person pairs.</summary>
    public int SameCount => Pairs.Count(p => p.Same);

    /// <summary>Number of different-person pairs.</summary>
    public int DifferentCount => Pairs.Count(p => !p.Same);

    /// <summary>Full path of a file named in the pairs.</summary>
    public string PathOf(string file) => Path.Combine(Folder, file);

    /// <summary>The pairs of <c>&lt;data&gt;/faces/pairs.csv</c>.</summary>
    public static FacePairs LoadDefault(string? dataRoot = null) => Load(Path.Combine(DataRoot.Folder("faces", dataRoot), PairsFileName));

    /// <summary>
    /// Reads a pairs CSV (and <c>identities.csv</c> beside it when present); checks the columns, the labels,
    /// that every image exists, and that labels agree with the identities.
    /// </summary>
    /// <exception cref="FileNotFoundException">The CSV or an image it names does not exist.</exception>
    /// <exception cref="FormatException">A CSV is malformed or contradicts the identities.</exception>
    public static FacePairs Load(string pairsCsv)
    {
        ArgumentException.ThrowIfNullOrEmpty(pairsCsv);
        if (!File.Exists(pairsCsv)) throw new FileNotFoundException($"{pairsCsv}: no such file", pairsCsv);
        var folder = Path.GetDirectoryName(Path.GetFullPath(pairsCsv))!;

        var identities = new Dictionary<string, string>(StringComparer.Ordinal);
        var identitiesCsv = Path.Combine(folder, IdentitiesFileName);
        if (File.Exists(identitiesCsv))
        {
            foreach (var (line, row) in ReadCsv(identitiesCsv, "identity", "file"))
            {
                if (row[0].Length == 0 || row[1].Length == 0) throw new FormatException($"{identitiesCsv}:{line}: empty identity or file");
                if (!identities.TryAdd(row[1], row[0])) throw new FormatException($"{identitiesCsv}:{line}: file '{row[1]}' listed twice");
            }
        }

        var pairs = new List<FacePair>();
        foreach (var (line, row) in ReadCsv(pairsCsv, "file_a", "file_b", "same"))
        {
            bool same = row[2] switch
            {
                "1" or "true" or "True" => true,
                "0" or "false" or "False" => false,
                _ => throw new FormatException($"{pairsCsv}:{line}: 'same' must be 1 or 0, got '{row[2]}'"),
            };
            foreach (var f in new[] { row[0], row[1] })
            {
                if (f.Length == 0) throw new FormatException($"{pairsCsv}:{line}: empty file name");
                if (!File.Exists(Path.Combine(folder, f))) throw new FileNotFoundException($"{Path.Combine(folder, f)}: image named in {pairsCsv}:{line} does not exist", Path.Combine(folder, f));
            }
            if (identities.Count > 0)
            {
                if (!identities.TryGetValue(row[0], out var ia) || !identities.TryGetValue(row[1], out var ib))
                    throw new FormatException($"{pairsCsv}:{line}: a file of the pair is not in {IdentitiesFileName}");
                if ((ia == ib) != same)
                    throw new FormatException($"{pairsCsv}:{line}: labelled {(same ? "same" : "different")}, but {IdentitiesFileName} says {ia} / {ib}");
            }
            pairs.Add(new FacePair(row[0], row[1], same));
        }
        if (pairs.Count == 0) throw new FormatException($"{pairsCsv}: contains no pairs");
        return new FacePairs(folder, pairs, identities);
    }

    /// <summary>Rows of a simple CSV (no quoted commas) as the named columns, in that order, with 1-based line numbers.</summary>
    private static IEnumerable<(int Line, string[] Row)> ReadCsv(string path, params string[] columns)
    {
        using var reader = new StreamReader(path);
        var header = reader.ReadLine() ?? throw new FormatException($"{path}: empty file");
        var names = Split(header.TrimStart('\uFEFF'));
        var index = columns.Select(c => Array.FindIndex(names, n => string.Equals(n, c, StringComparison.OrdinalIgnoreCase))).ToArray();
        for (int i = 0; i < columns.Length; i++)
            if (index[i] < 0) throw new FormatException($"{path}: no '{columns[i]}' column (header: {header})");
        int lineNo = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var cells = Split(line);
            if (cells.Length != names.Length) throw new FormatException($"{path}:{lineNo}: {cells.Length} fields, the header has {names.Length}");
            yield return (lineNo, index.Select(i => cells[i]).ToArray());
        }
    }

    private static string[] Split(string line) => line.Split(',').Select(c => c.Trim().Trim('"')).ToArray();
}
