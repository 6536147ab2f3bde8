namespace LicBackdoor.Bench;

/// <summary>
/// Benchmark dispatcher: <c>dotnet run -c Release --project bench/LicBackdoor.Bench -- NAME [options]</c>.
/// Each benchmark lives in its own file and exposes <c>Run(string[] args)</c>.
/// </summary>
public static class Program
{
    private const string Usage = """
        usage: LicBackdoor.Bench NAME [options]
          rans [--symbols N] [--runs R]   rANS coder throughput (Stopwatch, best of R runs; default N = 10000000, R = 5)
          bdn-rans [BenchmarkDotNet args]  the same workloads under BenchmarkDotNet (1M symbols)
          codec [--images N] [--model NAME] [--weights-dir DIR]
                                           seconds per Kodak image to compress / decompress, q3 models, 2 threads
          train-step [--steps K] [--threads T]
                                           seconds per training step (loss, backward, clipping, Adam, aux step), hyperprior
          enet [--runs R] [--threads T]    ENet (CamVid) at 512x512: inference, and forward + backward through Logits
          attack-step [--steps K] [--threads T] [--width W] [--crop C] [--trigger KIND]
                                           seconds per backdoor-attack step (1 and 2 triggers, both schedules) and the trigger share
          fuzz-lic [--cases N] [--seed S] [--max-pixels P] [--alloc-cap B] [--timeout S] [--forged-share F] [--out DIR] [--replay DIR]
                                           mutated .lic files into Decompress: outcome counts, crashes, hangs, allocations
          fuzz-weights [--cases N] [--seed S] [--alloc-cap B] [--timeout S] [--out DIR]
                                           mutated and hostile checkpoints (safetensors, zip, legacy, TF.js) into WeightsFile.Load
          kill-test [--kind train|attack|both] [--kills K] [--max-delay S] [--seed S] [--out DIR] [--licb PATH]
                                           SIGKILL tiny licb train / attack runs at random points, resume, compare with an uninterrupted run
          determinism [--images N] [--cheng-quality Q] [--no-cheng] [--report FILE]
                                           Kodak through every shipped model (and Cheng2020-Anchor) with 1 and 2 threads, twice: bytes and pixels
          latent-ceiling [--quality Q] [--weights FILE] [--images N] [--steps K] [--bounds B,..] [--fidelity W,..] [--report FILE]
                                           the most bits a free latent perturbation buys from a frozen hyperprior (bounds the bit-rate attack)
          noise-gap --run DIR [--run DIR ...] [--images N] [--images-dir FOLDER] [--seed S]
                                           clean Kodak PSNR / bpp with noisy (training) vs rounded (bitstream) latents, vanilla and attack victims
          crop-gap --run DIR [--images N] [--images-dir FOLDER] [--tile S ...] [--noise] [--seed S]
                                           a run's triggers on whole images vs S×S tiles (trigger on the whole image or per tile): bpp ratio, PSNR
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        try
        {
            return args[0] switch
            {
                "rans" => RansThroughput.Run(args[1..]),
                "bdn-rans" => RansBenchmarks.Run(args[1..]),
                "codec" => CodecTiming.Run(args[1..]),
                "train-step" => TrainStepTiming.Run(args[1..]),
                "enet" => ENetTiming.Run(args[1..]),
                "attack-step" => AttackStepTiming.Run(args[1..]),
                "fuzz-lic" => LicFuzz.Run(args[1..]),
                "fuzz-weights" => WeightsFuzz.Run(args[1..]),
                "kill-test" => KillTest.Run(args[1..]),
                "determinism" => Determinism.Run(args[1..]),
                "latent-ceiling" => LatentCeiling.Run(args[1..]),
                "noise-gap" => NoiseGap.Run(args[1..]),
                "crop-gap" => CropGap.Run(args[1..]),
                "-h" or "--help" or "help" => Help(),
                _ => Unknown(args[0]),
            };
        }
        catch (Exception e) when (e is IOException or ArgumentException or FormatException or UnauthorizedAccessException
                                   or LicBackdoor.Weights.CheckpointFormatException or LicBackdoor.Imaging.ImageFormatException)
        {
            // Expected failures (a missing file, a bad option value): one line, no stack trace.
            Console.Error.WriteLine($"LicBackdoor.Bench: error: {e.Message}");
            return 1;
        }
    }

    private static int Help()
    {
        Console.WriteLine(Usage);
        return 0;
    }

    private static int Unknown(string name)
    {
        Console.Error.WriteLine($"unknown benchmark '{name}'");
        Console.Error.WriteLine(Usage);
        return 2;
    }
}
