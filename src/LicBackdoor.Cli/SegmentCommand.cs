using System.CommandLine;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using Spectre.Console;
using static TorchSharp.torch;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb segment IMAGE --labels OUT.png [--color OUT2.png] [--weights FILE]</c>: CamVid class map of an image
/// with ENet; <c>licb segment --eval [--split test] [--limit N] [--json FILE]</c>: per-class IoU, mean IoU and
/// global accuracy on a CamVid split; <c>licb segment train --run DIR ...</c>: train a segmentation net
/// (<see cref="SegmentTrainCommand"/>). <c>--weights</c> takes the published checkpoint or any safetensors file
/// written by <see cref="SegmentationNet.Save"/> (ENet or SegResNet; the metadata says which).
/// </summary>
internal static class SegmentCommand
{
    /// <summary>The published checkpoint, relative to the data folder.</summary>
    private static readonly string[] DefaultWeights = ["models", "enet-camvid", "enet-camvid.pth"];

    public static Command Build()
    {
        var image = new Argument<string?>("image") { Description = "image to segment (PNG or JPEG)", Arity = ArgumentArity.ZeroOrOne };
        var labels = new Option<string?>("--labels") { Description = "write the class map here: grey PNG, pixel value = CamVid class 0-11, at the image's size" };
        var color = new Option<string?>("--color") { Description = "also write the class map coloured with the CamVid palette" };
        var weights = new Option<string?>("--weights", "-w") { Description = "segmentation weights: the published ENet PyTorch checkpoint or a safetensors file written by licb segment train (ENet or SegResNet) (default: <data>/models/enet-camvid/enet-camvid.pth)" };
        var eval = new Option<bool>("--eval") { Description = "evaluate on CamVid instead of segmenting one image" };
        var split = new Option<string>("--split") { Description = "CamVid split for --eval", DefaultValueFactory = _ => "test" };
        var limit = new Option<int?>("--limit") { Description = "with --eval: only the first N images" };
        var json = new Option<string?>("--json") { Description = "with --eval: also write the report as JSON to this file" };
        var inputScale = new Option<double?>("--input-scale") { Description = "override the scale a trained net resizes images by (weights with a scaled preprocessing only; default: the recorded one)" };
        var cmd = new Command("segment", "semantic segmentation (CamVid classes): a class map for one image, --eval on CamVid, or 'train' a net")
        {
            image, labels, color, weights, eval, split, limit, json, inputScale,
        };
        cmd.Subcommands.Add(SegmentTrainCommand.Build());
        cmd.SetAction(p => Cli.Guard(p, () =>
        {
            var dataRoot = p.GetValue(Cli.DataOption);
            var weightsPath = p.GetValue(weights) ?? Path.Combine([DataRoot.Resolve(dataRoot), .. DefaultWeights]);
            if (p.GetValue(eval))
            {
                if (p.GetValue(image) is not null) throw new ArgumentException("--eval takes no IMAGE argument");
                if (p.GetValue(limit) is < 1) throw new ArgumentException("--limit must be at least 1");
                return Evaluate(weightsPath, CamVid.Open(p.GetValue(split)!, dataRoot), p.GetValue(limit), p.GetValue(json), p.GetValue(inputScale));
            }
            var input = p.GetValue(image) ?? throw new ArgumentException("give an IMAGE to segment (or --eval)");
            var labelsPath = p.GetValue(labels);
            var colorPath = p.GetValue(color);
            if (labelsPath is null) throw new ArgumentException("--labels OUT.png is required when segmenting an image");
            return Segment(weightsPath, input, labelsPath, colorPath, p.GetValue(inputScale));
        }));
        return cmd;
    }

    /// <summary>Opens the weights, with the input scale overridden when asked.</summary>
    private static SegmentationNet Open(string weightsPath, double? inputScale)
    {
        var net = SegmentationNets.FromFile(weightsPath);
        if (inputScale is double scale)
        {
            if (net.Preprocessing.Width is not null)
            {
                var message = $"--input-scale: {weightsPath} uses a fixed input size ({net.Preprocessing}), not a scale";
                net.Dispose();
                throw new ArgumentException(message);
            }
            net.Preprocessing = net.Preprocessing with { Scale = scale };
        }
        return net;
    }

    private static int Segment(string weightsPath, string input, string labelsPath, string? colorPath, double? inputScale)
    {
        using var net = Open(weightsPath, inputScale);
        using var scope = NewDisposeScope();
        var x = ImageFile.Load(input);
        int h = (int)x.shape[2], w = (int)x.shape[3];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var classes = net.Predict(x)[0];
        double seconds = sw.Elapsed.TotalSeconds;
        ImageFile.SaveGrayPng(CamVid.ClassBytes(classes), w, h, labelsPath);
        if (colorPath is not null) ImageFile.SaveRgbPng(CamVid.Colorize(classes), w, h, colorPath);
        var counts = bincount(classes.flatten(), minlength: SegmentationNet.NumClasses).data<long>().ToArray();
        var top = Enumerable.Range(0, SegmentationNet.NumClasses).OrderByDescending(c => counts[c]).Take(3)
            .Select(c => $"{CamVid.ClassNames[c]} {100.0 * counts[c] / ((long)w * h):F1} %");
        Console.WriteLine($"{labelsPath}: {w}x{h} class map ({string.Join(", ", top)}) in {seconds:F2} s" +
                          (colorPath is null ? "" : $"; colours in {colorPath}"));
        return 0;
    }

    private static int Evaluate(string weightsPath, CamVid data, int? limit, string? jsonPath, double? inputScale)
    {
        using var net = Open(weightsPath, inputScale);
        string name = net is ENet ? "ENet" : "SegResNet";
        // A console on the current Console.Out (AnsiConsole's shared one keeps the writer it first saw).
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        SegmentationReport? report = null;
        console.Progress().AutoClear(true).Start(ctx =>
        {
            var task = ctx.AddTask($"{name} on CamVid {data.Split}");
            report = SegmentationEvaluation.Evaluate(net, data, weightsPath, limit, (done, total, s) =>
            {
                task.MaxValue = total;
                task.Value = done;
                task.Description = $"{name} on CamVid {data.Split}: {Markup.Escape(s.Name)}";
            });
        });
        Print(console, report!, $"{name} ({net.Preprocessing})");
        if (jsonPath is not null)
        {
            AtomicFile.WriteAllText(jsonPath, report!.ToJson());
            Console.WriteLine($"wrote {jsonPath}");
        }
        return 0;
    }

    private static void Print(IAnsiConsole console, SegmentationReport r, string name)
    {
        console.WriteLine($"{name} on CamVid {r.Split}: {r.Images} images, void ignored");
        var table = new Table().AddColumns("class", "IoU");
        for (int c = 0; c < r.ClassIoU.Count; c++)
            table.AddRow($"{c} {r.ClassNames[c]}", double.IsNaN(r.ClassIoU[c]) ? "n/a" : r.ClassIoU[c].ToString("F3"));
        table.AddRow("[bold]mIoU[/]", $"[bold]{100 * r.MeanIoU:F2} %[/]");
        table.AddRow("[bold]global accuracy[/]", $"[bold]{100 * r.GlobalAccuracy:F2} %[/]");
        console.Write(table);
        Console.WriteLine($"weights {r.Weights}; {r.Pixels} scored pixels; {r.Threads} threads, {r.Seconds:F1} s ({r.Seconds / Math.Max(r.Images, 1):F2} s per image)");
    }
}
