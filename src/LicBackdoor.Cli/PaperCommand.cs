using System.CommandLine;
using System.Globalization;
using LicBackdoor.Paper;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb paper --table N … | --figure N … | --all</c>: the paper's Tables 1-6 and Figs. 4, 5, 9, 10 at a stated compute
/// budget, from cached attack runs where they exist; writes the report into <c>--out</c> and the generated section of
/// docs/RESULTS.md. Training and evaluation run in-process through the same code as <c>licb attack</c> and <c>licb defend</c>.
/// </summary>
internal static class PaperCommand
{
    public static Command Build(Func<ParseResult, Func<int>, int> guard, Option<string?> dataOption)
    {
        var table = new Option<int[]>("--table") { Description = "a table to compute (repeatable): 1-6", AllowMultipleArgumentsPerToken = true };
        var figure = new Option<int[]>("--figure") { Description = "a figure to compute (repeatable): 4, 5 (9 and 10 come with tables 1 and 2)", AllowMultipleArgumentsPerToken = true };
        var all = new Option<bool>("--all") { Description = "every table and figure" };
        var outDir = new Option<string>("--out") { Description = "output folder (run folders under runs/, the report, the figures)", DefaultValueFactory = _ => "out/paper" };
        var budget = new Option<string>("--budget") { Description = "compute profile: default (2-core CPU), full (the paper's scale), tiny (tests)", DefaultValueFactory = _ => "default" };
        var full = new Option<bool>("--full") { Description = "the paper's scale: same as --budget full" };
        var steps = new Option<int?>("--steps") { Description = "override the profile's attack steps per run (segmentation runs included)" };
        var qualities = new Option<int[]>("--qualities") { Description = "override the qualities of the per-quality tables and figures (downstream tables included)", AllowMultipleArgumentsPerToken = true };
        var evalImages = new Option<int?>("--eval-images") { Description = "override the number of Kodak images evaluated" };
        var segEvalImages = new Option<int?>("--seg-eval-images") { Description = "override the number of CamVid test images of the segmentation evaluation" };
        var segWeights = new Option<string?>("--seg-weights") { Description = "segmentation net of Tables 1 and 3 (default: models/enet-camvid.safetensors when shipped, else the published checkpoint)" };
        var faceWeights = new Option<string?>("--face-weights") { Description = "face recognition net of Table 2 (default: <data>/models/face-recognition)" };
        var results = new Option<string?>("--results") { Description = "the results file whose generated section is replaced (default: docs/RESULTS.md of the repository around the current folder; 'none' for no file)" };
        var logEvery = new Option<int>("--log-every") { Description = "print a training line every K steps when output is not a terminal", DefaultValueFactory = _ => 100 };
        var cmd = new Command("paper", "regenerate the paper's tables (1-6) and figures (4, 5, 9, 10) at a stated compute budget, reusing finished runs")
        {
            table, figure, all, outDir, budget, full, steps, qualities, evalImages, segEvalImages, segWeights, faceWeights, results, logEvery,
        };
        cmd.SetAction(p => guard(p, () =>
        {
            var started = DateTime.UtcNow;
            var requested = new List<string>();
            if (p.GetValue(all)) requested.AddRange(PaperTables.Keys);
            foreach (var t in p.GetValue(table) ?? [])
                requested.Add(t is >= 1 and <= 6 ? t.ToString(CultureInfo.InvariantCulture) : throw new ArgumentException($"--table: no table {t} (1-6)"));
            foreach (var f in p.GetValue(figure) ?? [])
                requested.Add(f switch { 4 => "fig4", 5 => "fig5", 9 => "1", 10 => "2", _ => throw new ArgumentException($"--figure: no figure {f} (4, 5, 9, 10)") });
            if (requested.Count == 0) throw new ArgumentException("choose what to compute: --table N (1-6), --figure N (4, 5, 9, 10) or --all");

            bool isFull = p.GetValue(full);
            var profile = isFull ? PaperBudget.Full : PaperBudget.Named(p.GetValue(budget)!);
            if (isFull && p.GetResult(budget) is { Implicit: false } && profile != PaperBudget.Named(p.GetValue(budget)!))
                throw new ArgumentException("--full and --budget disagree; give one of them");
            var flags = new List<string>();
            if (profile.Name != PaperBudget.Default.Name) flags.Add(isFull ? "--full" : $"--budget {profile.Name}");
            if (p.GetValue(steps) is int s) { profile = profile with { Steps = s, DownstreamSteps = null }; flags.Add($"--steps {s}"); }
            if (p.GetValue(qualities) is { Length: > 0 } qs)
            {
                profile = profile with { Qualities = qs.Distinct().Order().ToArray(), DownstreamQualities = null };
                flags.Add($"--qualities {string.Join(" ", profile.Qualities)}");
            }
            if (p.GetValue(evalImages) is int e) { profile = profile with { EvalImages = e }; flags.Add($"--eval-images {e}"); }
            if (p.GetValue(segEvalImages) is int se) { profile = profile with { SegEvalImages = se }; flags.Add($"--seg-eval-images {se}"); }
            var overrides = flags.Skip(profile.Name == PaperBudget.Default.Name ? 0 : 1).ToList();
            if (overrides.Count > 0) profile = profile with { Name = $"{profile.Name} with {string.Join(" ", overrides)}" };
            profile.Validate();
            var dir = p.GetValue(outDir)!;
            if (dir != "out/paper") flags.Add($"--out {dir}");
            if (p.GetValue(segWeights) is string sw) flags.Add($"--seg-weights {sw}");
            if (p.GetValue(faceWeights) is string fw) flags.Add($"--face-weights {fw}");
            string flagText = string.Concat(flags.Select(f => " " + f));

            string? resultsFile = p.GetValue(results) switch
            {
                "none" => null,
                string given => Path.GetFullPath(given),
                null => RepositoryResults(),
            };
            Console.WriteLine($"licb paper: {profile.Describe()}");
            Console.WriteLine($"computing: {string.Join(", ", requested.Distinct().Select(k => k.StartsWith("fig", StringComparison.Ordinal) ? $"Fig. {k[3..]}" : $"Table {k}"))}; output {Path.GetFullPath(dir)}"
                              + (resultsFile is null ? "" : $"; results section in {resultsFile}"));

            var inputs = new PaperInputs(p.GetValue(dataOption), p.GetValue(segWeights), p.GetValue(faceWeights));
            var planner = new PaperPlanner(profile, inputs);
            int every = p.GetValue(logEvery);
            var runner = new PaperRunner(planner, dir, new PaperHooks
            {
                Log = Console.WriteLine,
                Train = (trainer, runDir) => AttackCommand.Train(trainer, runDir, every),
            });
            var summary = runner.Run(requested.Distinct().ToList(), flagText, resultsFile);
            foreach (var key in PaperTables.Keys)
                Console.WriteLine($"  {(key.StartsWith("fig", StringComparison.Ordinal) ? $"Fig. {key[3..]}" : $"Table {key}")}: {summary.Status[key]}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"trained {summary.Trained} runs, computed {summary.Evaluated} evaluations and {summary.DefensesEvaluated} defence evaluations (everything else reused); {(DateTime.UtcNow - started).TotalSeconds:F1} s"));
            Console.WriteLine($"wrote {Path.Combine(Path.GetFullPath(dir), "report.html")}" + (resultsFile is null ? "" : $" and the section of {resultsFile}"));
            return 0;
        }));
        return cmd;
    }

    /// <summary>docs/RESULTS.md of the repository around the current folder (the folder with LicBackdoor.sln), or null.</summary>
    private static string? RepositoryResults()
    {
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "LicBackdoor.sln")))
                return Path.Combine(d.FullName, "docs", "RESULTS.md");
        return null;
    }
}
