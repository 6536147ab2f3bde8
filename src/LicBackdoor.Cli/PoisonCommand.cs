using System.CommandLine;
using System.Globalization;
using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb poison --run DIR IN OUT</c>: applies a learned trigger to an image and writes the poisoned image as an 8-bit
/// PNG (what the victim would then be given), printing how visible the trigger is.
/// </summary>
internal static class PoisonCommand
{
    public static Command Build()
    {
        var input = new Argument<string>("input") { Description = "clean image (PNG or JPEG)" };
        var output = new Argument<string>("output") { Description = "poisoned image to write (8-bit PNG)" };
        var run = new Option<string>("--run")
        {
            Description = "an attack run folder, or a licb attack output folder (choose the run with --quality/--trigger when it holds several)",
            Required = true,
        };
        var objective = new Option<string?>("--objective", "-o") { Description = "whose trigger to apply (default: the run's only objective)" };
        var quality = new Option<int?>("--quality", "-q") { Description = "the quality of the run to use" };
        var trigger = new Option<string?>("--trigger", "-t") { Description = "the trigger kind of the run to use" };
        var cmd = new Command("poison", "apply a learned backdoor trigger to an image and write the poisoned PNG") { input, output, run, objective, quality, trigger };
        cmd.SetAction(p => Cli.Guard(p, () =>
        {
            using var attack = AttackRun.Open(AttackRun.Choose(p.GetValue(run)!, p.GetValue(quality), p.GetValue(trigger)));
            var name = p.GetValue(objective) is string o ? BackdoorObjective.Parse(o).Name : null;
            var t = attack.TriggerFor(name);
            name ??= attack.Objectives[0].Name;
            using var scope = NewDisposeScope();
            var x = ImageFile.Load(p.GetValue(input)!);
            var obj = attack.Objectives.First(x => x.Name == name);
            Tensor xp;
            string masked = "";
            if (obj is SegmentationObjective seg)
            {
                // The segmentation attack's poisoned image carries the trigger only on the source-class pixels (Eq. 11).
                var opts = attack.Record.Options;
                using var net = SegmentationNets.Load(opts.ResolvedSegWeights(p.GetValue(Cli.DataOption)), opts.SegProcessingSize);
                (xp, var labels) = DownstreamEvaluation.PoisonSegmentation(seg, t, net, x);
                masked = string.Create(CultureInfo.InvariantCulture, $", on the {100 * labels.eq(seg.Source).to_type(ScalarType.Float32).mean().item<float>():F1} % of pixels {net.Name} labels {CamVid.ClassNames[seg.Source]}");
            }
            else xp = AttackEvaluation.Poison(t, x);
            var path = p.GetValue(output)!;
            ImageFile.SavePng(xp, path);
            double psnr = Metrics.Psnr(xp, x);
            double mse = Metrics.Mse(xp, x);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{path}: {x.shape[3]}x{x.shape[2]}, {attack.Record.Options.Trigger.Kind} trigger of objective {name} ({attack.Directory}), trigger PSNR {(double.IsFinite(psnr) ? $"{psnr:F2} dB (MSE {mse:0.00e+00})" : "∞ (the 8-bit poisoned image equals the input)")}{masked}"));
            return 0;
        }));
        return cmd;
    }
}
