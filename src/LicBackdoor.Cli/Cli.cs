using System.CommandLine;
using LicBackdoor.Backdoor;
using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using LicBackdoor.Weights;
using Spectre.Console;
using static TorchSharp.torch;

namespace LicBackdoor.Cli;

/// <summary>The <c>licb</c> command line: thin verbs over the library.</summary>
public static class Cli
{
    private static readonly Option<int?> ThreadsOption = new("--threads") { Description = "libtorch threads (default: libtorch's, 2 here)", Recursive = true };
    internal static readonly Option<string?> DataOption = new("--data") { Description = $"data folder (default: ${DataRoot.EnvironmentVariable} or ../shared/data)", Recursive = true };

    private static Option<string> ModelOption() => new("--model", "-m")
    {
        Description = $"codec architecture: {string.Join(", ", ModelZoo.ModelNames)}",
        DefaultValueFactory = _ => "bmshj2018-hyperprior",
    };

    private static Option<int> QualityOption() => new("--quality", "-q") { Description = "quality index (hyperprior 1-8, cheng2020-anchor 1-6)", DefaultValueFactory = _ => 3 };

    private static Option<string?> WeightsOption() => new("--weights", "-w")
    {
        Description = "weights: a safetensors file, a CompressAI .pth.tar, or 'compressai' for CompressAI's published checkpoint (default: the shipped models/ file of this model and quality, listed by `licb zoo`; seeded fresh initialisation where none is shipped)",
    };

    /// <summary>Opens a codec; for <c>--weights compressai</c> the published checkpoint is fetched first, with a progress bar.</summary>
    internal static LoadedCodec OpenCodec(string model, int quality, string? weights)
    {
        if (weights == ModelStore.CompressAiKeyword)
        {
            string? path = null;
            Terminal.Current().Progress().AutoClear(true).Start(ctx =>
            {
                var task = ctx.AddTask(PretrainedCompressAi.FileName(model, quality));
                path = PretrainedCompressAi.Resolve(model, quality, (done, total) =>
                {
                    task.MaxValue = total ?? Math.Max(task.MaxValue, done + 1);
                    task.Value = done;
                });
            });
            weights = path;
        }
        return ModelStore.Open(model, quality, weights);
    }

    /// <summary>Parses and runs; returns the process exit code (0 success, 1 bad input, 2 usage).</summary>
    public static int Run(string[] args)
    {
        // `licb eval --rd ...` is the rate-distortion sweep: the same as `licb rd ...` (rd's options apply).
        int verb = Array.IndexOf(args, "eval");
        if (verb >= 0 && args.Contains("--rd"))
            args = args.Take(verb).Append("rd").Concat(args.Skip(verb + 1).Where(a => a != "--rd")).ToArray();
        var root = new RootCommand("LicBackdoor: learned image compression and its backdoors (CompressAI-compatible codecs in .NET)");
        root.Options.Add(ThreadsOption);
        root.Options.Add(DataOption);
        root.Subcommands.Add(CompressCommand());
        root.Subcommands.Add(DecompressCommand());
        root.Subcommands.Add(EvalCommand());
        root.Subcommands.Add(DemoCommand.Build(Guard, DataOption));
        root.Subcommands.Add(ZooCommand());
        root.Subcommands.Add(TrainCommand.Build(Guard, DataOption));
        root.Subcommands.Add(WeightsCommand.Build(Guard));
        root.Subcommands.Add(FacesCommand.Build());
        root.Subcommands.Add(SegmentCommand.Build());
        root.Subcommands.Add(RdCommand.Build());
        root.Subcommands.Add(AttackCommand.Build(Guard, DataOption));
        root.Subcommands.Add(PoisonCommand.Build());
        root.Subcommands.Add(CropCommand.Build());
        root.Subcommands.Add(DefendCommand.Build(Guard, DataOption));
        root.Subcommands.Add(PaperCommand.Build(Guard, DataOption));
        return root.Parse(args).Invoke();
    }

    /// <summary>Runs a verb body, turning expected failures into a one-line error and exit code 1.</summary>
    internal static int Guard(ParseResult parse, Func<int> body)
    {
        try
        {
            NativeSetup.Initialize(parse.GetValue(ThreadsOption));
            return body();
        }
        catch (Exception e) when (e is InvalidBitstreamException or ImageFormatException or CheckpointFormatException
                                      or FileNotFoundException or DirectoryNotFoundException or ArgumentException
                                      or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"licb: error: {e.Message}");
            return 1;
        }
    }

    private static Command CompressCommand()
    {
        var input = new Argument<string>("input") { Description = "image to compress (PNG or JPEG)" };
        var output = new Argument<string>("output") { Description = "bitstream to write (.lic)" };
        var model = ModelOption(); var quality = QualityOption(); var weights = WeightsOption();
        var run = new Option<string?>("--run")
        {
            Description = "compress with the backdoored encoder of an attack run (a run folder, or a licb attack output folder: " +
                          "choose the run with --quality/--trigger); model, quality and weights come from the run, and the vanilla decoder decodes the file",
        };
        var trigger = new Option<string?>("--trigger", "-t") { Description = "with --run: the trigger kind of the run to use" };
        var cmd = new Command("compress", "compress an image into a .lic bitstream") { input, output, model, quality, weights, run, trigger };
        cmd.SetAction(p => Guard(p, () =>
        {
            AttackRun? attack = null;
            try
            {
                LoadedCodec codec;
                string label = "";
                if (p.GetValue(run) is string runDir)
                {
                    if (p.GetResult(model) is { Implicit: false } || p.GetResult(weights) is { Implicit: false })
                        throw new ArgumentException("--model and --weights come from the attack run; do not give them with --run");
                    int? q = p.GetResult(quality) is { Implicit: false } ? p.GetValue(quality) : null;
                    attack = AttackRun.Open(AttackRun.Choose(runDir, q, p.GetValue(trigger)));
                    codec = attack.Victim;
                    label = $" (victim encoder of {attack.Directory})";
                }
                else
                {
                    if (p.GetValue(trigger) is not null) throw new ArgumentException("--trigger needs --run");
                    codec = OpenCodec(p.GetValue(model)!, p.GetValue(quality), p.GetValue(weights));
                }
                using var scope = NewDisposeScope();
                var x = ImageFile.Load(p.GetValue(input)!);
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var file = ImageCodec.Compress(codec, x);
                file.Write(p.GetValue(output)!);
                double bpp = file.PayloadBytes * 8.0 / ((double)file.Width * file.Height);
                Console.WriteLine($"{p.GetValue(output)}: {file.ModelName} q{file.Quality}{label}, {file.Width}x{file.Height}, " +
                                  $"{file.PayloadBytes + file.OverheadBytes} bytes ({file.PayloadBytes} payload), {bpp:F4} bpp, {sw.Elapsed.TotalSeconds:F2} s");
                return 0;
            }
            finally
            {
                attack?.Dispose();
            }
        }));
        return cmd;
    }

    private static Command DecompressCommand()
    {
        var input = new Argument<string>("input") { Description = ".lic bitstream" };
        var output = new Argument<string>("output") { Description = "PNG to write" };
        var weights = WeightsOption();
        var maxPixels = new Option<long>("--max-pixels")
        {
            Description = $"refuse files declaring a larger image (padded pixels), before decoding (default {ImageCodec.DefaultMaxPixels})",
            DefaultValueFactory = _ => ImageCodec.DefaultMaxPixels,
        };
        var cmd = new Command("decompress", "decode a .lic bitstream into a PNG (model and quality come from the file)") { input, output, weights, maxPixels };
        cmd.SetAction(p => Guard(p, () =>
        {
            var path = p.GetValue(input)!;
            var file = LicFile.Read(path);
            if (!ModelZoo.ModelNames.Contains(file.ModelName))
                throw new InvalidBitstreamException($"{path}: unknown model '{file.ModelName}'", path);
            var codec = OpenCodec(file.ModelName, file.Quality, p.GetValue(weights));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var scope = NewDisposeScope();
            if (p.GetValue(maxPixels) < 1) throw new ArgumentException("--max-pixels must be positive");
            var x = ImageCodec.Decompress(codec, file, path, p.GetValue(maxPixels));
            ImageFile.SavePng(x, p.GetValue(output)!);
            Console.WriteLine($"{p.GetValue(output)}: {file.Width}x{file.Height}, decoded in {sw.Elapsed.TotalSeconds:F2} s");
            return 0;
        }));
        return cmd;
    }

    private static Command EvalCommand()
    {
        var model = ModelOption(); var quality = QualityOption(); var weights = WeightsOption();
        var images = new Option<string?>("--images") { Description = "folder of images (default: <data>/kodak)" };
        var limit = new Option<int?>("--limit") { Description = "evaluate only the first N images" };
        var json = new Option<string?>("--json") { Description = "also write the report as JSON to this file" };
        var cmd = new Command("eval", "rate-distortion evaluation with real bitstreams: bpp, estimated bpp, PSNR, MS-SSIM, times (`licb eval --rd ...` is `licb rd ...`)") { model, quality, weights, images, limit, json };
        cmd.SetAction(p => Guard(p, () =>
        {
            var codec = OpenCodec(p.GetValue(model)!, p.GetValue(quality), p.GetValue(weights));
            var folder = p.GetValue(images) ?? DataRoot.Folder("kodak", p.GetValue(DataOption));
            CodecEvaluationReport? report = null;
            Terminal.Current().Progress().AutoClear(true).Start(ctx =>
            {
                var task = ctx.AddTask($"{codec.Model.ModelName} q{codec.Quality}");
                report = CodecEvaluation.Evaluate(codec, folder, p.GetValue(limit), (done, total, r) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                    task.Description = $"{codec.Model.ModelName} q{codec.Quality} {r.Image} {r.Bpp:F3} bpp {r.Psnr:F2} dB";
                });
            });
            Reports.PrintEvaluation(report!);
            var jsonPath = p.GetValue(json);
            if (jsonPath is not null)
            {
                AtomicFile.WriteAllText(jsonPath, report!.ToJson());
                Console.WriteLine($"wrote {jsonPath}");
            }
            return 0;
        }));
        return cmd;
    }

    private static Command ZooCommand()
    {
        var cmd = new Command("zoo", "list the supported architectures and qualities (CompressAI's N, M, λ) and each one's default weights");
        cmd.SetAction(p => Guard(p, () =>
        {
            var table = new Table().AddColumns("model", "quality", "N", "M", "λ (MSE)", "λ (MS-SSIM)", "default weights");
            foreach (var e in ModelZoo.All)
            {
                var shipped = ModelStore.EmbeddedWeights(e.Model, e.Quality);
                string weights = "seeded init (N, M as listed)";
                if (shipped is not null)
                {
                    var (n, m) = ModelZoo.MiniSize(e.Model); // shipped files are the CPU-sized configuration
                    weights = $"models/{Path.GetFileName(shipped)} (mini: N={n}, M={m})";
                }
                table.AddRow(e.Model, e.Quality.ToString(), e.N.ToString(), e.M.ToString(), e.LambdaMse.ToString("0.0000"), e.LambdaMsSsim.ToString("0.00"),
                    Markup.Escape(weights));
            }
            Terminal.Current().Write(table);
            return 0;
        }));
        return cmd;
    }
}
