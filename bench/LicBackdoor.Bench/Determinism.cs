using System.Diagnostics;
using System.Globalization;
using System.Text;
using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// Determinism report: every Kodak image is encoded with 1 and with 2 libtorch threads, twice each, by every shipped
/// model (models/: hyperprior-mini q1-q4) and by a seeded, freshly initialised Cheng2020-Anchor (its CDF tables built,
/// as <c>licb</c> uses it when no weights are shipped) for the autoregressive path; every distinct bitstream is then
/// decoded with 1 and 2 threads, twice each. Compared: the bitstream bytes across thread counts and repetitions, and the
/// decoded pixels (SHA-256 of the float32 tensor) across decoder thread counts, repetitions and encoder thread counts.
/// A bitstream decoded with another thread count than it was written with must decode (no desynchronisation) to the
/// same pixels. By default the coding paths run on <see cref="CodecThreads.Count"/> (1) libtorch threads whatever the
/// process's count, so bitstreams and pixels must be identical across thread counts; <c>--follow-threads</c> lets them use
/// the process's count (the behaviour before <see cref="CodecThreads"/> covered g_a and g_s), to show what the fixed count
/// prevents. Writes a Markdown report atomically; exits 1 on a desynchronised decode or, without
/// <c>--follow-threads</c>, on any difference across thread counts.
/// Usage: <c>determinism [--images N] [--cheng-quality Q] [--no-cheng] [--follow-threads] [--report FILE] [--data DIR]</c>.
/// </summary>
public static class Determinism
{
    public static int Run(string[] args)
    {
        int images = 24, chengQuality = 1;
        bool cheng = true, follow = false;
        string report = "determinism.md";
        string? data = null;
        if (!new BenchArgs("determinism")
            .Value("--images", v => images = BenchArgs.Int(v))
            .Value("--cheng-quality", v => chengQuality = BenchArgs.Int(v))
            .Flag("--no-cheng", () => cheng = false)
            .Flag("--follow-threads", () => follow = true)
            .Value("--report", v => report = v)
            .Value("--data", v => data = v)
            .Apply(args)) return 2;
        NativeSetup.Initialize();
        var files = CodecEvaluation.ImageFiles(DataRoot.Folder("kodak", data)).Take(images).ToList();
        var codecs = new List<(string Label, Func<LoadedCodec> Open)>();
        foreach (var q in Enumerable.Range(1, 8))
            if (ModelStore.EmbeddedWeights(ScaleHyperprior.Name, q) is string w)
                codecs.Add(($"{ScaleHyperprior.Name} q{q} (shipped {Path.GetFileName(w)})", () => ModelStore.Open(ScaleHyperprior.Name, q)));
        if (cheng)
            codecs.Add(($"{Cheng2020Anchor.Name} q{chengQuality} (seeded fresh init, CDF tables built; autoregressive)",
                        () => ModelStore.Open(Cheng2020Anchor.Name, chengQuality)));

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Determinism: {files.Count} Kodak images, encoded with 1 and 2 libtorch threads (twice each); every distinct bitstream decoded with 1 and 2 threads (twice each). Coding paths on {(follow ? "the process's thread count (--follow-threads)" : $"CodecThreads.Count = {CodecThreads.Count} thread(s), whatever the process's count")}. {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores.");
        md.AppendLine();
        md.AppendLine("| model | images | bitstreams identical: same threads, 2 runs | bitstreams identical: 1 vs 2 threads | decoded floats identical: same threads, 2 runs | decoded floats identical: 1 vs 2 decoder threads | decoded 8-bit PNG pixels identical: 1 vs 2 decoder threads | max abs float difference | desynchronised decodes | s |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        bool allGood = true;
        void SetThreads(int t)
        {
            set_num_threads(t);
            if (follow) CodecThreads.Count = t;
        }
        foreach (var (label, open) in codecs)
        {
            var sw = Stopwatch.StartNew();
            var codec = open();
            int bitsRepeat = 0, bitsThreads = 0, floatRepeat = 0, floatThreads = 0, bytesThreads = 0, desync = 0;
            double maxDiff = 0;
            foreach (var f in files)
            {
                using var scope = NewDisposeScope();
                var x = ImageFile.Load(f);
                var streams = new Dictionary<int, List<byte[]>>();
                foreach (int t in new[] { 1, 2 })
                {
                    SetThreads(t);
                    streams[t] = [ImageCodec.Compress(codec, x).ToBytes(), ImageCodec.Compress(codec, x).ToBytes()];
                }
                bool repeat = streams.Values.All(s => s[0].AsSpan().SequenceEqual(s[1]));
                bool across = streams[1][0].AsSpan().SequenceEqual(streams[2][0]);
                if (repeat) bitsRepeat++;
                if (across) bitsThreads++;
                bool fRepeat = true, fThreads = true, bThreads = true, bad = false;
                foreach (int writer in across ? new[] { 1 } : new[] { 1, 2 })
                {
                    var decoded = new Dictionary<(int Reader, int Rep), Tensor?>();
                    foreach (int reader in new[] { 1, 2 })
                    {
                        SetThreads(reader);
                        for (int rep = 0; rep < 2; rep++)
                        {
                            try { decoded[(reader, rep)] = ImageCodec.Decompress(codec, LicFile.Parse(streams[writer][0], f), f); }
                            catch (InvalidBitstreamException) { decoded[(reader, rep)] = null; bad = true; }
                        }
                    }
                    if (decoded.Values.Any(d => d is null)) continue;
                    fRepeat &= Same(decoded[(1, 0)]!, decoded[(1, 1)]!) && Same(decoded[(2, 0)]!, decoded[(2, 1)]!);
                    var same = decoded[(writer, 0)]!;
                    var other = decoded[(3 - writer, 0)]!;
                    fThreads &= Same(same, other);
                    double diff = (same - other).abs().max().item<float>();
                    maxDiff = Math.Max(maxDiff, diff);
                    bThreads &= ImageFile.EncodePng(same).AsSpan().SequenceEqual(ImageFile.EncodePng(other));
                    if (diff > 0.1) bad = true; // a desynchronised decode gives another image, not rounding noise
                }
                if (fRepeat) floatRepeat++;
                if (fThreads) floatThreads++;
                if (bThreads) bytesThreads++;
                if (bad) desync++;
                Console.WriteLine($"{label} {Path.GetFileName(f)}: bitstreams {(across ? "identical" : "DIFFER")} across threads, decoded floats {(fThreads ? "identical" : "differ")} across threads, 8-bit {(bThreads ? "identical" : "differ")}{(bad ? ", DESYNC" : "")}");
            }
            SetThreads(2);
            allGood &= desync == 0 && (follow || (bitsRepeat == files.Count && bitsThreads == files.Count && floatRepeat == files.Count && floatThreads == files.Count && bytesThreads == files.Count));
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {label} | {files.Count} | {bitsRepeat}/{files.Count} | {bitsThreads}/{files.Count} | {floatRepeat}/{files.Count} | {floatThreads}/{files.Count} | {bytesThreads}/{files.Count} | {maxDiff:G3} | {desync} | {sw.Elapsed.TotalSeconds:F0} |");
        }
        md.AppendLine();
        md.AppendLine(allGood
            ? follow ? "No desynchronised decode: every bitstream decodes to the same image (up to float rounding) whatever the encoder's and the decoder's thread counts."
                     : "Identical bitstreams and decoded pixels across thread counts and repetitions, and no desynchronised decode."
            : "**Differences or desynchronised decodes found** (see the table).");
        AtomicFile.WriteAllText(report, md.ToString());
        Console.WriteLine(md.ToString());
        Console.WriteLine($"wrote {report}");
        return allGood ? 0 : 1;
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();
}
