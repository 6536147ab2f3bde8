using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
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
/// same pixels. Writes a Markdown report atomically.
/// Usage: <c>determinism [--images N] [--cheng-quality Q] [--no-cheng] [--report FILE] [--data DIR]</c>.
/// </summary>
public static class Determinism
{
    public static int Run(string[] args)
    {
        int images = 24, chengQuality = 1;
        bool cheng = true;
        string report = "determinism.md";
        string? data = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--images": images = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--cheng-quality": chengQuality = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--no-cheng": cheng = false; break;
                case "--report": report = Next(); break;
                case "--data": data = Next(); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
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
        md.AppendLine(CultureInfo.InvariantCulture, $"Determinism: {files.Count} Kodak images, encode with 1 and 2 libtorch threads (twice each), decode every distinct bitstream with 1 and 2 threads (twice each). {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores.");
        md.AppendLine();
        md.AppendLine("| model | images | bitstreams identical (1 vs 2 threads, 2 runs) | decoded pixels identical (all decodes of an image) | cross-thread decodes (written with T, read with T') equal to same-thread | desynchronised decodes | s |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        bool allGood = true;
        foreach (var (label, open) in codecs)
        {
            var sw = Stopwatch.StartNew();
            var codec = open();
            int sameBits = 0, samePixels = 0, crossOk = 0, crossTotal = 0, desync = 0;
            foreach (var f in files)
            {
                using var scope = NewDisposeScope();
                var x = ImageFile.Load(f);
                var streams = new Dictionary<int, List<byte[]>>();
                foreach (int t in new[] { 1, 2 })
                {
                    set_num_threads(t);
                    streams[t] = [ImageCodec.Compress(codec, x).ToBytes(), ImageCodec.Compress(codec, x).ToBytes()];
                }
                var all = streams.Values.SelectMany(s => s).ToList();
                bool bitsEqual = all.All(b => b.AsSpan().SequenceEqual(all[0]));
                if (bitsEqual) sameBits++;
                // Decode each encoder thread count's bitstream with both decoder thread counts, twice.
                var hashes = new List<string>();
                var byWriter = new Dictionary<(int Writer, int Reader), string>();
                foreach (int writer in new[] { 1, 2 })
                {
                    if (writer == 2 && bitsEqual) { foreach (int r in new[] { 1, 2 }) byWriter[(2, r)] = byWriter[(1, r)]; continue; }
                    foreach (int reader in new[] { 1, 2 })
                    {
                        set_num_threads(reader);
                        for (int rep = 0; rep < 2; rep++)
                        {
                            using var inner = NewDisposeScope();
                            string h;
                            try { h = Hash(ImageCodec.Decompress(codec, LicFile.Parse(streams[writer][0], f), f)); }
                            catch (InvalidBitstreamException e) { h = "error: " + e.Message; desync++; }
                            hashes.Add(h);
                            byWriter[(writer, reader)] = h;
                        }
                    }
                }
                if (hashes.All(h => h == hashes[0]) && !hashes[0].StartsWith("error", StringComparison.Ordinal)) samePixels++;
                foreach (int w in new[] { 1, 2 })
                {
                    crossTotal++;
                    if (byWriter[(w, 1)] == byWriter[(w, 2)] && !byWriter[(w, 1)].StartsWith("error", StringComparison.Ordinal)) crossOk++;
                }
                Console.WriteLine($"{label} {Path.GetFileName(f)}: bitstreams {(bitsEqual ? "identical" : "DIFFER")}, pixels {(hashes.All(h => h == hashes[0]) ? "identical" : "DIFFER")}");
            }
            set_num_threads(2);
            allGood &= sameBits == files.Count && samePixels == files.Count && desync == 0;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {label} | {files.Count} | {sameBits}/{files.Count} | {samePixels}/{files.Count} | {crossOk}/{crossTotal} | {desync} | {sw.Elapsed.TotalSeconds:F0} |");
        }
        md.AppendLine();
        md.AppendLine(allGood ? "All bitstreams and all decoded images are identical across thread counts and runs." : "**Differences found** (see the table).");
        AtomicFile.WriteAllText(report, md.ToString());
        Console.WriteLine(md.ToString());
        Console.WriteLine($"wrote {report}");
        return allGood ? 0 : 1;
    }

    private static string Hash(Tensor x)
    {
        using var c = x.contiguous();
        return Convert.ToHexString(SHA256.HashData(c.bytes))[..16] + $"/{string.Join("x", x.shape)}";
    }
}
