using System.CommandLine;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Evaluation;
using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary><c>licb faces verify</c>: face verification accuracy of the face recognition net on labelled pairs.</summary>
internal static class FacesCommand
{
    /// <summary>The <c>faces</c> verb and its sub-verbs.</summary>
    public static Command Build()
    {
        var faces = new Command("faces", "face recognition net (face-api, 128-D descriptors)");
        faces.Subcommands.Add(VerifyCommand());
        return faces;
    }

    private static Command VerifyCommand()
    {
        var pairs = new Option<string?>("--pairs") { Description = "pairs CSV (file_a,file_b,same; default: <data>/faces/pairs.csv)" };
        var weights = new Option<string?>("--weights", "-w") { Description = "TF.js weights manifest or its folder (default: <data>/models/face-recognition/)" };
        var threshold = new Option<double>("--threshold") { Description = "same person iff descriptor distance < threshold", DefaultValueFactory = _ => FaceRecognitionNet.DefaultThreshold };
        var json = new Option<string?>("--json") { Description = "also write the report (with every pair's distance) as JSON to this file" };
        var cmd = new Command("verify", "verification accuracy, true/false accept rates and mean distances over labelled face pairs") { pairs, weights, threshold, json };
        cmd.SetAction(p => Cli.Guard(p, () =>
        {
            var dataRoot = p.GetValue(Cli.DataOption);
            FacePairs set;
            try { set = p.GetValue(pairs) is { } csv ? FacePairs.Load(csv) : FacePairs.LoadDefault(dataRoot); }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"licb: error: {e.Message}");
                return 1;
            }
            var manifest = FaceRecognitionNet.ResolveManifest(p.GetValue(weights) ?? FaceRecognitionNet.DefaultManifestPath(dataRoot));
            using var net = FaceRecognitionNet.Load(manifest);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            // A console over the current Console.Out (the static AnsiConsole keeps the writer it first saw).
            var console = Terminal.Current();
            FaceVerificationReport? report = null;
            console.Progress().AutoClear(true).Start(ctx =>
            {
                var task = ctx.AddTask("descriptors");
                report = FaceVerification.Evaluate(net, set, p.GetValue(threshold), progress: (done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                }, weights: manifest, pairsName: p.GetValue(pairs) ?? Path.Combine(set.Folder, FacePairs.PairsFileName));
            });
            Print(console, report!, set.Files.Count, sw.Elapsed.TotalSeconds);
            if (p.GetValue(json) is { } jsonPath)
            {
                AtomicFile.WriteAllText(jsonPath, report!.ToJson());
                Console.WriteLine($"wrote {jsonPath}");
            }
            return 0;
        }));
        return cmd;
    }

    private static void Print(IAnsiConsole console, FaceVerificationReport r, int images, double seconds)
    {
        var table = new Table().Title($"face verification: {r.PairCount} pairs ({r.SameCount} same, {r.DifferentCount} different), {images} crops, {seconds:F1} s")
            .AddColumns("measure", "value");
        table.AddRow("threshold", r.Threshold.ToString("0.###"));
        table.AddRow("accuracy", $"{r.Accuracy * 100:F2} % ({r.CorrectCount}/{r.PairCount})");
        table.AddRow("true-accept rate (same pairs accepted)", $"{r.TrueAcceptRate * 100:F2} %");
        table.AddRow("false-accept rate (different pairs accepted)", $"{r.FalseAcceptRate * 100:F2} %");
        table.AddRow("mean distance, same", r.MeanSameDistance.ToString("F4"));
        table.AddRow("mean distance, different", r.MeanDifferentDistance.ToString("F4"));
        table.AddRow("best threshold on these pairs", $"{r.BestThreshold:F4} ({r.BestAccuracy * 100:F2} %)");
        console.Write(table);
    }
}
