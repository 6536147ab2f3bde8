using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Data;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// Bitstream fuzzing: mutates valid <c>.lic</c> files written by <see cref="ImageCodec.Compress"/> with the shipped
/// hyperprior-mini model on small Kodak crops, and feeds them to <see cref="LicFile.Parse"/> and
/// <see cref="ImageCodec.Decompress"/>. Two classes of cases: (a) the mutated file as is (its checksum no longer
/// matches, so it must be refused), and (b) the mutated body with its checksum recomputed (a forged file, which
/// exercises the header checks and the rANS decoder). Every outcome is counted: typed refusal
/// (<see cref="InvalidBitstreamException"/> naming the file) by stage, decoded (allowed only in class b), crash (any
/// other exception: a bug), slow, managed allocations above a cap. A watchdog thread ends the run (exit 3) and saves
/// the case if one case takes longer than the time bound (a hang).
/// Usage: <c>fuzz-lic [--cases N] [--seed S] [--data DIR] [--out DIR] [--quality Q] [--max-pixels P]
/// [--alloc-cap BYTES] [--timeout SECONDS] [--forged-share F] [--threads T] [--replay DIR]</c>.
/// </summary>
public static class LicFuzz
{
    private enum Kind
    {
        BitFlip, ByteSet, Insert, Delete, Truncate, Append, FieldLie, HugeDims, ConsistentDims,
        StringCountLie, StringLengthLie, SwapStrings, Splice, NameLie, VersionLie,
    }

    private static readonly Kind[] Kinds = Enum.GetValues<Kind>();

    private sealed record Seed(string Label, byte[] Bytes, Tensor Decoded);

    private sealed class Counts
    {
        public readonly SortedDictionary<string, long> ByOutcome = new(StringComparer.Ordinal);
        public readonly SortedDictionary<string, long> ByKindOutcome = new(StringComparer.Ordinal);
        public void Add(string cls, Kind kind, string outcome)
        {
            Inc(ByOutcome, $"{cls} {outcome}");
            Inc(ByKindOutcome, $"{cls} {kind,-16} {outcome}");
        }
        private static void Inc(SortedDictionary<string, long> d, string k) => d[k] = d.GetValueOrDefault(k) + 1;
    }

    public static int Run(string[] args)
    {
        long cases = 100_000;
        ulong seed = 1;
        string? data = null, replay = null;
        string outDir = "fuzz-out/lic";
        int quality = 3, threads = 1;
        long maxPixels = 1L << 20, allocCap = 64L << 20;
        double timeout = 10, forgedShare = 0.5;
        if (!new BenchArgs("fuzz-lic")
            .Value("--cases", v => cases = BenchArgs.Long(v))
            .Value("--seed", v => seed = BenchArgs.ULong(v))
            .Value("--data", v => data = v)
            .Value("--out", v => outDir = v)
            .Value("--quality", v => quality = BenchArgs.Int(v))
            .Value("--max-pixels", v => maxPixels = BenchArgs.Long(v))
            .Value("--alloc-cap", v => allocCap = BenchArgs.Long(v))
            .Value("--timeout", v => timeout = BenchArgs.Double(v))
            .Value("--forged-share", v => forgedShare = BenchArgs.Double(v))
            .Value("--threads", v => threads = BenchArgs.Int(v))
            .Value("--replay", v => replay = v)
            .Apply(args)) return 2;
        NativeSetup.Initialize(threads);
        var codec = ModelStore.Open("bmshj2018-hyperprior", quality);
        if (replay is not null) return Replay(codec, replay, maxPixels);

        Directory.CreateDirectory(outDir);
        var corpusDir = Path.Combine(outDir, "corpus");
        var crashDir = Path.Combine(outDir, "crashes");
        Directory.CreateDirectory(corpusDir);
        Directory.CreateDirectory(crashDir);

        var total = Stopwatch.StartNew();
        var seeds = MakeSeeds(codec, DataRoot.Folder("kodak", data));
        Console.WriteLine($"# fuzz-lic: {cases} cases, seed {seed}, codec {codec.Model.ModelName} q{quality} ({codec.Source}), " +
                          $"{seeds.Count} seed files ({string.Join(", ", seeds.Select(s => $"{s.Label} {s.Bytes.Length} B"))}), " +
                          $"max pixels {maxPixels}, managed allocation cap {allocCap} B/case, time bound {timeout} s/case, {get_num_threads()} torch thread(s)");

        var rng = new SplitMix64(seed);
        var counts = new Counts();
        var savedPerKey = new Dictionary<string, int>(StringComparer.Ordinal);
        long crashes = 0, overAlloc = 0, unnamed = 0, slowCases = 0, decodedUnforged = 0;
        double maxSeconds = 0; long maxAlloc = 0;
        string? slowest = null;
        var watchdog = new Watchdog(timeout, outDir);
        var lastPrint = Stopwatch.StartNew();

        for (long c = 0; c < cases; c++)
        {
            bool forged = rng.NextDouble() < forgedShare;
            var kind = Kinds[(int)(rng.NextUInt64() % (ulong)Kinds.Length)];
            var s = seeds[(int)(rng.NextUInt64() % (ulong)seeds.Count)];
            byte[] mutated = Mutate(s, seeds, kind, forged, rng);
            if (mutated.AsSpan().SequenceEqual(s.Bytes)) { c--; continue; } // identity mutation: draw again
            string cls = forged ? "b(forged checksum)" : "a(as is)";
            string name = $"case-{c}.lic";

            watchdog.Arm(c, mutated);
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            long t0 = Stopwatch.GetTimestamp();
            string outcome;
            try
            {
                using var scope = NewDisposeScope();
                var file = LicFile.Parse(mutated, name);
                var x = ImageCodec.Decompress(codec, file, name, maxPixels);
                bool same = x.shape.SequenceEqual(s.Decoded.shape) && x.equal(s.Decoded).all().item<bool>();
                outcome = same ? "decoded (identical pixels)" : "decoded (different pixels)";
                if (!forged) decodedUnforged++;
            }
            catch (InvalidBitstreamException e)
            {
                outcome = "typed: " + Stage(e);
                if (!e.Message.Contains(name, StringComparison.Ordinal)) { unnamed++; outcome += " (file not named!)"; }
            }
            catch (Exception e)
            {
                crashes++;
                outcome = $"CRASH {e.GetType().Name}";
                var path = Path.Combine(crashDir, $"crash-{c}-{kind}.lic");
                File.WriteAllBytes(path, mutated);
                Console.WriteLine($"CRASH case {c} ({cls}, {kind}, seed {s.Label}): {e.GetType().FullName}: {e.Message}\n  saved {path}\n{e.StackTrace}");
            }
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            long alloc = GC.GetAllocatedBytesForCurrentThread() - a0;
            watchdog.Disarm();
            if (alloc > allocCap) overAlloc++;
            if (seconds > 1) slowCases++;
            if (seconds > maxSeconds) { maxSeconds = seconds; slowest = $"case {c} ({cls}, {kind}, {outcome})"; }
            maxAlloc = Math.Max(maxAlloc, alloc);
            counts.Add(forged ? "b" : "a", kind, outcome);

            // Keep a few files per (class, kind, outcome): the corpus the regression tests are chosen from.
            var key = $"{(forged ? "b" : "a")}-{kind}-{Slug(outcome)}";
            int n = savedPerKey.GetValueOrDefault(key);
            if (n < 2)
            {
                savedPerKey[key] = n + 1;
                File.WriteAllBytes(Path.Combine(corpusDir, $"{key}-{n}.lic"), mutated);
            }
            if (lastPrint.Elapsed.TotalSeconds >= 30)
            {
                Console.WriteLine($"  {c + 1} cases, {total.Elapsed.TotalSeconds:F0} s, crashes {crashes}");
                lastPrint.Restart();
            }
        }
        watchdog.Stop();

        Console.WriteLine();
        Console.WriteLine($"| class and outcome | cases |");
        Console.WriteLine($"|---|---|");
        foreach (var (k, v) in counts.ByOutcome) Console.WriteLine($"| {k} | {v} |");
        Console.WriteLine();
        Console.WriteLine("per mutation kind:");
        foreach (var (k, v) in counts.ByKindOutcome) Console.WriteLine($"  {k,-70} {v,8}");
        Console.WriteLine();
        Console.WriteLine($"cases {cases}; wall {total.Elapsed.TotalSeconds:F1} s ({cases / total.Elapsed.TotalSeconds:F0} cases/s); " +
                          $"crashes {crashes}; hangs 0 (time bound {timeout} s); cases over 1 s {slowCases}; slowest {maxSeconds * 1000:F1} ms ({slowest}); " +
                          $"max managed allocation per case {maxAlloc} B, cases over the {allocCap} B cap {overAlloc}; " +
                          $"typed errors not naming the file {unnamed}; unforged files decoded {decodedUnforged}");
        return crashes == 0 && overAlloc == 0 && unnamed == 0 && decodedUnforged == 0 ? 0 : 1;
    }

    /// <summary>Decodes every file of a folder and prints its outcome (to check a corpus).</summary>
    private static int Replay(LoadedCodec codec, string dir, long maxPixels)
    {
        int bad = 0;
        foreach (var path in Directory.GetFiles(dir, "*.lic").Order(StringComparer.Ordinal))
        {
            string outcome;
            try
            {
                using var scope = NewDisposeScope();
                var x = ImageCodec.Decompress(codec, LicFile.Read(path), path, maxPixels);
                outcome = $"decoded {x.shape[3]}x{x.shape[2]}";
            }
            catch (InvalidBitstreamException e) { outcome = $"typed: {Stage(e)}: {e.Message}"; }
            catch (Exception e) { bad++; outcome = $"CRASH {e.GetType().Name}: {e.Message}"; }
            Console.WriteLine($"{Path.GetFileName(path)}\t{new FileInfo(path).Length}\t{outcome}");
        }
        return bad == 0 ? 0 : 1;
    }

    private static string Stage(InvalidBitstreamException e)
    {
        var m = e.Message;
        if (m.Contains("checksum mismatch", StringComparison.Ordinal)) return "checksum";
        if (e.InnerException is InvalidBitstreamException) return "entropy decoding (rANS)";
        if (m.Contains("decoding cap", StringComparison.Ordinal)) return "pixel cap";
        if (m.Contains("was written", StringComparison.Ordinal) || m.Contains("expected 2 strings", StringComparison.Ordinal)
            || m.Contains("does not match image size", StringComparison.Ordinal)) return "header vs codec";
        return "container structure";
    }

    private static string Slug(string s)
    {
        var sb = new StringBuilder();
        foreach (char ch in s) sb.Append(char.IsAsciiLetterOrDigit(ch) ? ch : '_');
        return sb.ToString().Trim('_').Replace("__", "_", StringComparison.Ordinal);
    }

    /// <summary>Small crops of the first Kodak images, compressed by our own codec: the valid files mutations start from.</summary>
    private static List<Seed> MakeSeeds(LoadedCodec codec, string kodak)
    {
        var seeds = new List<Seed>();
        var files = CodecEvaluation.ImageFiles(kodak).Take(3).ToList();
        foreach (var f in files)
        {
            using var scope = NewDisposeScope();
            var img = ImageFile.Load(f);
            foreach (var (w, h, y0, x0) in new[] { (64, 64, 200, 300), (96, 64, 100, 40), (17, 9, 300, 500) })
            {
                var crop = img[.., .., TensorIndex.Slice(y0, y0 + h), TensorIndex.Slice(x0, x0 + w)].contiguous();
                var bytes = ImageCodec.Compress(codec, crop).ToBytes();
                var decoded = ImageCodec.Decompress(codec, LicFile.Parse(bytes)).MoveToOuterDisposeScope();
                seeds.Add(new Seed($"{Path.GetFileNameWithoutExtension(f)}-{w}x{h}", bytes, decoded));
            }
        }
        return seeds;
    }

    // ------------------------------------------------------------------ mutations

    /// <summary>Offsets of the header fields of a valid file (see <see cref="LicFile"/>).</summary>
    private readonly record struct Layout(int NameLen, int Quality, int Fingerprint, int Height, int Width, int ZHeight, int ZWidth, int Count, int[] StringLen, int[] StringLength)
    {
        public static Layout Of(byte[] f)
        {
            int l = f[6];
            int q = 7 + l, fp = q + 1, hh = fp + 8, count = hh + 16;
            var at = new List<int>(); var len = new List<int>();
            int pos = count + 1;
            for (int i = 0; i < f[count]; i++)
            {
                at.Add(pos);
                int n = (int)BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(pos));
                len.Add(n);
                pos += 4 + n;
            }
            return new Layout(6, q, fp, hh, hh + 4, hh + 8, hh + 12, count, at.ToArray(), len.ToArray());
        }
    }

    private static readonly uint[] InterestingU32 =
        [0, 1, 2, 7, 8, 63, 64, 65, 255, 256, 4095, 4096, 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1u << 20, 1u << 24];

    private static byte[] Mutate(Seed seed, List<Seed> all, Kind kind, bool forged, SplitMix64 rng)
    {
        var orig = seed.Bytes;
        var layout = Layout.Of(orig);
        // Class b mutates the body and appends a fresh checksum; class a mutates the whole file.
        var buf = new List<byte>(forged ? orig[..^8] : orig);
        int R(int n) => n <= 0 ? 0 : (int)(rng.NextUInt64() % (ulong)n);
        void SetU32(int at, uint v) { if (at + 4 <= buf.Count) for (int i = 0; i < 4; i++) buf[at + i] = (byte)(v >> (8 * i)); }
        uint GetU32(int at) => (uint)(buf[at] | buf[at + 1] << 8 | buf[at + 2] << 16 | buf[at + 3] << 24);
        uint Lie(uint v) => R(3) switch
        {
            0 => InterestingU32[R(InterestingU32.Length)],
            1 => (uint)(v + (uint)(R(17) - 8)),
            _ => (uint)rng.NextUInt64(),
        };

        switch (kind)
        {
            case Kind.BitFlip:
                for (int k = 1 + R(4); k > 0; k--) { int p = R(buf.Count); buf[p] ^= (byte)(1 << R(8)); }
                break;
            case Kind.ByteSet:
                for (int k = 1 + R(4); k > 0; k--) buf[R(buf.Count)] = (byte)rng.NextUInt64();
                break;
            case Kind.Insert:
            {
                int p = R(buf.Count + 1);
                var ins = new byte[1 + R(16)];
                for (int i = 0; i < ins.Length; i++) ins[i] = (byte)rng.NextUInt64();
                buf.InsertRange(p, ins);
                break;
            }
            case Kind.Delete:
            {
                int p = R(buf.Count);
                buf.RemoveRange(p, Math.Min(1 + R(16), buf.Count - p));
                break;
            }
            case Kind.Truncate:
                buf = buf.Take(R(buf.Count)).ToList();
                break;
            case Kind.Append:
                for (int k = 1 + R(64); k > 0; k--) buf.Add((byte)rng.NextUInt64());
                break;
            case Kind.FieldLie:
            {
                int[] u32 = [layout.Height, layout.Width, layout.ZHeight, layout.ZWidth, .. layout.StringLen];
                int at = u32[R(u32.Length)];
                SetU32(at, Lie(GetU32(at)));
                if (R(4) == 0) buf[layout.Quality] = (byte)rng.NextUInt64();
                break;
            }
            case Kind.HugeDims:
            {
                // Consistent with the downsampling factor, so only the pixel cap (or LicFile's side limit) stops it.
                uint zh = 1u + (uint)R(1024), zw = 1u + (uint)R(1024);
                SetU32(layout.Height, zh * 64); SetU32(layout.Width, zw * 64);
                SetU32(layout.ZHeight, zh); SetU32(layout.ZWidth, zw);
                break;
            }
            case Kind.ConsistentDims:
            {
                uint zh = 1u + (uint)R(3), zw = 1u + (uint)R(3);
                SetU32(layout.Height, zh * 64 - (uint)R(63)); SetU32(layout.Width, zw * 64 - (uint)R(63));
                SetU32(layout.ZHeight, zh); SetU32(layout.ZWidth, zw);
                break;
            }
            case Kind.StringCountLie:
                buf[layout.Count] = (byte)(R(2) == 0 ? new byte[] { 0, 1, 3, 255 }[R(4)] : (byte)rng.NextUInt64());
                break;
            case Kind.StringLengthLie:
            {
                int i = R(layout.StringLen.Length);
                uint v = GetU32(layout.StringLen[i]);
                SetU32(layout.StringLen[i], R(2) == 0 ? v + (uint)(R(9) - 4) : InterestingU32[R(InterestingU32.Length)]);
                break;
            }
            case Kind.SwapStrings:
            {
                // [y, z] -> [z, y] (or y twice): lengths and bytes rebuilt consistently.
                var ys = orig.AsSpan(layout.StringLen[0] + 4, layout.StringLength[0]).ToArray();
                var zs = orig.AsSpan(layout.StringLen[1] + 4, layout.StringLength[1]).ToArray();
                buf = RebuildStrings(buf, layout, R(2) == 0 ? [zs, ys] : [ys, ys]);
                break;
            }
            case Kind.Splice:
            {
                // The strings of another seed under this header (sizes may or may not agree).
                var other = all[R(all.Count)].Bytes;
                var ol = Layout.Of(other);
                var ys = other.AsSpan(ol.StringLen[0] + 4, ol.StringLength[0]).ToArray();
                var zs = other.AsSpan(ol.StringLen[1] + 4, ol.StringLength[1]).ToArray();
                var mine = orig.AsSpan(layout.StringLen[1] + 4, layout.StringLength[1]).ToArray();
                buf = RebuildStrings(buf, layout, R(2) == 0 ? [ys, zs] : [ys, mine]);
                break;
            }
            case Kind.NameLie:
            {
                if (R(2) == 0) buf[layout.NameLen] = (byte)rng.NextUInt64();
                else
                {
                    int l = orig[6];
                    var name = new[] { "cheng2020-anchor", "bmshj2018-hyperprio", "", "x", new string('A', 255) }[R(5)];
                    buf.RemoveRange(7, l);
                    buf.InsertRange(7, Encoding.ASCII.GetBytes(name));
                    buf[6] = (byte)name.Length;
                }
                break;
            }
            case Kind.VersionLie:
                buf[4 + R(2)] = (byte)(R(2) == 0 ? R(4) : (int)(rng.NextUInt64() & 0xff)); // version or flags
                break;
        }
        if (!forged) return buf.ToArray();
        var body = buf.ToArray();
        var hash = SHA256.HashData(body);
        return [.. body, .. hash.AsSpan(0, 8)];
    }

    private static List<byte> RebuildStrings(List<byte> buf, Layout layout, byte[][] strings)
    {
        var head = buf.Take(layout.Count).ToList();
        head.Add((byte)strings.Length);
        foreach (var s in strings)
        {
            var len = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)s.Length);
            head.AddRange(len);
            head.AddRange(s);
        }
        return head;
    }

    /// <summary>Ends the process (exit 3) and saves the case when one case runs past the time bound.</summary>
    private sealed class Watchdog
    {
        private readonly double timeout;
        private readonly string outDir;
        private readonly Thread thread;
        private long armedAt; // Stopwatch timestamp, 0 when disarmed
        private long caseId;
        private byte[]? bytes;
        private volatile bool stop;

        public Watchdog(double timeout, string outDir)
        {
            this.timeout = timeout;
            this.outDir = outDir;
            thread = new Thread(Loop) { IsBackground = true, Name = "fuzz watchdog" };
            thread.Start();
        }

        public void Arm(long id, byte[] data) { caseId = id; bytes = data; Volatile.Write(ref armedAt, Stopwatch.GetTimestamp()); }

        public void Disarm() => Volatile.Write(ref armedAt, 0);

        public void Stop() => stop = true;

        private void Loop()
        {
            while (!stop)
            {
                Thread.Sleep(250);
                long t = Volatile.Read(ref armedAt);
                if (t != 0 && Stopwatch.GetElapsedTime(t).TotalSeconds > timeout)
                {
                    var path = Path.Combine(outDir, $"hang-{caseId}.lic");
                    File.WriteAllBytes(path, bytes ?? []);
                    Console.WriteLine($"HANG: case {caseId} exceeded {timeout} s; saved {path}");
                    Environment.Exit(3);
                }
            }
        }
    }
}
