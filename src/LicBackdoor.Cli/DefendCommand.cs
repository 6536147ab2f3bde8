using System.CommandLine;
using System.Globalization;
using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Defenses;
using LicBackdoor.Data;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb defend --run DIR --defense blur:0.5 --defense squeeze:3 [--amplify 3]</c>: measures input defences against a
/// finished attack run (paper Tables 5-6) and writes <c>defense.json</c>/<c>defense.md</c> (<c>defense-x3.*</c> when
/// amplified) into the run folder. A separate verb, not options of <c>licb attack</c>: the attack's evaluation is
/// cached and its report covers several runs, while defences are an after-the-fact study of one run.
/// </summary>
internal static class DefendCommand
{
    public static Command Build(Func<ParseResult, Func<int>, int> guard, Option<string?> dataOption)
    {
        var run = new Option<string>("--run")
        {
            Description = "an attack run folder, or a licb attack output folder (choose the run with --quality/--trigger when it holds several)",
            Required = true,
        };
        var quality = new Option<int?>("--quality", "-q") { Description = "the quality of the run to use" };
        var trigger = new Option<string?>("--trigger", "-t") { Description = "the trigger kind of the run to use" };
        var defense = new Option<string[]>("--defense", "-d")
        {
            Description = $"defence (repeatable): {Defense.Forms}; default: Table 5's none, blur:0.2/0.3/0.5/0.6, squeeze:7/4/3",
            AllowMultipleArgumentsPerToken = true,
        };
        var amplify = new Option<double>("--amplify") { Description = "multiply the learned perturbation T(x) − x by this factor (Table 6: 3)", DefaultValueFactory = _ => 1.0 };
        var evalImages = new Option<int?>("--eval-images") { Description = "use the first N images (default: all)" };
        var evalFolder = new Option<string?>("--eval-folder") { Description = "evaluate on this image folder instead of <data>/kodak" };
        var cmd = new Command("defend", "measure input defences (Gaussian blur, colour-bit squeezing) against a finished attack run (Tables 5-6)")
            { run, quality, trigger, defense, amplify, evalImages, evalFolder };
        cmd.SetAction(p => guard(p, () =>
        {
            var specs = p.GetValue(defense) is { Length: > 0 } given ? given : Defense.Table5.ToArray();
            var defenses = specs.Select(Defense.Parse).ToList();
            if (defenses.All(d => d is not NoDefense)) defenses.Insert(0, new NoDefense());   // the "None" column is the reference
            double k = p.GetValue(amplify);
            if (!double.IsFinite(k) || k <= 0) throw new ArgumentException($"--amplify must be positive, got {k}");
            var images = p.GetValue(evalFolder) ?? DataRoot.Folder("kodak", p.GetValue(dataOption));
            var dir = AttackRun.Choose(p.GetValue(run)!, p.GetValue(quality), p.GetValue(trigger));
            using var attack = AttackRun.Open(dir);
            var result = DefenseEvaluation.Evaluate(attack, images, defenses, k, p.GetValue(evalImages),
                (done, total) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(dir))}: {done}/{total} images")));
            var (json, md) = DefenseEvaluation.Write(dir, result);
            Reports.PrintTable(result.ToTable());
            Console.WriteLine($"wrote {json} and {md}");
            return 0;
        }));
        return cmd;
    }
}
