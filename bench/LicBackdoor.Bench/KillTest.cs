using System.Diagnostics;
using System.Text.Json;
using LicBackdoor.Data;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Bench;

/// <summary>
/// Kill tests: a tiny <c>licb train</c> run and a tiny <c>licb attack</c> run are started as child processes, killed
/// with SIGKILL after random delays and resumed, until they finish; every file in the run folder is checked after each
/// kill (safetensors load, JSON parses, CSV lines complete; temporary files are counted, they are not in place), and the
/// final weights are compared byte for byte with an uninterrupted run of the same command.
/// Usage: <c>kill-test [--licb PATH] [--kind train|attack|both] [--kills K] [--max-delay SECONDS] [--seed S] [--out DIR] [--data DIR]</c>.
/// </summary>
public static class KillTest
{
    public static int Run(string[] args)
    {
        string? licb = null, data = null;
        string kind = "both", outDir = "kill-out";
        int kills = 5;
        double maxDelay = 0;
        ulong seed = 1;
        if (!new BenchArgs("kill-test")
            .Value("--licb", v => licb = v)
            .Value("--kind", v => kind = v)
            .Value("--kills", v => kills = BenchArgs.Int(v))
            .Value("--max-delay", v => maxDelay = BenchArgs.Double(v))
            .Value("--seed", v => seed = BenchArgs.ULong(v))
            .Value("--out", v => outDir = v)
            .Value("--data", v => data = v)
            .Apply(args)) return 2;
        licb ??= FindLicb();
        var dataRoot = DataRoot.Resolve(data);
        var kodak = Path.Combine(dataRoot, "kodak");
        if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        Directory.CreateDirectory(outDir);
        var rng = new SplitMix64(seed);
        bool ok = true;
        Console.WriteLine($"# kill-test: {licb}, {kills} kills per run (delays uniform in [0.3 s, {(maxDelay > 0 ? $"{maxDelay} s" : "2 x the uninterrupted run's time / kills")}]), seed {seed}");
        if (kind is "train" or "both")
        {
            string[] Train(string run, bool resume) => [
                "--threads", "1", "--data", dataRoot, "train", "--run", run, "--n", "16", "--m", "16", "--steps", "600", "--batch", "2",
                "--crop", "64", "--validate-every", "100", "--checkpoint-every", "25", "--log-every", "100", "--scale-levels", "64",
                "--images", kodak, .. resume ? new[] { "--resume" } : []];
            ok &= Case("train", outDir, licb, Train, run => [Path.Combine(run, "model.safetensors")], kills, maxDelay, rng);
        }
        if (kind is "attack" or "both")
        {
            // licb attack resumes by itself when it finds the run folder.
            string[] Attack(string run, bool resume) => [
                "--threads", "1", "--data", dataRoot, "attack", "--run", run, "--quality", "1", "--objective", "bpp", "--width", "0.125",
                "--steps", "150", "--batch", "1", "--crop", "64", "--checkpoint-every", "10", "--log-every", "50", "--images", kodak, "--no-eval"];
            ok &= Case("attack", outDir, licb, Attack,
                run => Directory.GetFiles(Path.Combine(run, "frequency-q1"), "*.safetensors").Where(f => !f.EndsWith("checkpoint.safetensors", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray(),
                kills, maxDelay, rng);
        }
        Console.WriteLine(ok ? "kill-test: PASS" : "kill-test: FAIL");
        return ok ? 0 : 1;
    }

    private static bool Case(string name, string outDir, string licb, Func<string, bool, string[]> command, Func<string, string[]> finals,
                             int kills, double maxDelay, SplitMix64 rng)
    {
        var refDir = Path.GetFullPath(Path.Combine(outDir, name + "-reference"));
        var runDir = Path.GetFullPath(Path.Combine(outDir, name + "-killed"));
        var sw = Stopwatch.StartNew();
        var (code, _) = Start(licb, command(refDir, false), kill: null);
        if (code != 0) { Console.WriteLine($"{name}: the uninterrupted run failed (exit {code})"); return false; }
        double full = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"{name}: uninterrupted run {full:F1} s");
        if (maxDelay <= 0) maxDelay = Math.Max(3, 2 * full / Math.Max(1, kills));

        int killed = 0, attempts = 0, badFiles = 0, temps = 0, checkedFiles = 0;
        bool finished = false;
        while (!finished && attempts < kills + 20)
        {
            attempts++;
            bool resume = File.Exists(Path.Combine(runDir, "options.json"));
            double? delay = killed < kills ? 0.3 + rng.NextDouble() * Math.Max(0, maxDelay - 0.3) : null;
            var (c, wasKilled) = Start(licb, command(runDir, resume), delay);
            if (wasKilled)
            {
                killed++;
                var (bad, tmp, n) = CheckFolder(runDir);
                badFiles += bad; temps += tmp; checkedFiles += n;
                Console.WriteLine($"{name}: SIGKILL {killed} after {delay:F2} s: {n} files checked, {bad} incomplete/unloadable in place, {tmp} temporary left");
            }
            else if (c == 0) finished = true;
            else { Console.WriteLine($"{name}: a resumed run failed (exit {c})"); return false; }
        }
        if (!finished) { Console.WriteLine($"{name}: did not finish"); return false; }
        var (badEnd, _, _) = CheckFolder(runDir);
        badFiles += badEnd;

        var a = finals(refDir);
        var b = finals(runDir);
        bool sameFiles = a.Length > 0 && a.Length == b.Length;
        bool sameTensors = sameFiles;
        for (int i = 0; sameFiles && i < a.Length; i++)
        {
            bool bytesEqual = File.ReadAllBytes(a[i]).AsSpan().SequenceEqual(File.ReadAllBytes(b[i]));
            bool tensorsEqual = SameTensors(a[i], b[i]);
            Console.WriteLine($"{name}: {Path.GetFileName(a[i])}: file bytes {(bytesEqual ? "identical" : "DIFFERENT")}, tensors {(tensorsEqual ? "identical" : "DIFFERENT")}");
            sameTensors &= tensorsEqual;
        }
        Console.WriteLine($"{name}: {killed} kills, {attempts} starts; {checkedFiles} file checks after kills, {badFiles} incomplete files in place, " +
                          $"{temps} temporary files seen after kills; final weights {(sameTensors ? "identical to the uninterrupted run" : "DIFFER")}; {sw.Elapsed.TotalSeconds:F0} s");
        return sameTensors && badFiles == 0;
    }

    private static bool SameTensors(string a, string b)
    {
        using var scope = NewDisposeScope();
        var (ta, _) = Safetensors.Load(a);
        var (tb, _) = Safetensors.Load(b);
        return ta.Count == tb.Count && ta.All(kv => tb.TryGetValue(kv.Key, out var o) && o.dtype == kv.Value.dtype
                                                     && o.shape.SequenceEqual(kv.Value.shape) && o.bytes.SequenceEqual(kv.Value.bytes));
    }

    /// <summary>Every file in the folder (recursively) must be complete: returns (incomplete in place, temporaries, files checked).</summary>
    private static (int Bad, int Temps, int Checked) CheckFolder(string dir)
    {
        int bad = 0, temps = 0, n = 0;
        if (!Directory.Exists(dir)) return (0, 0, 0);
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            if (AtomicFile.IsTemporary(f)) { temps++; continue; }
            n++;
            string? problem = null;
            try
            {
                switch (Path.GetExtension(f))
                {
                    case ".safetensors":
                        using (NewDisposeScope()) Safetensors.Load(f);
                        break;
                    case ".json":
                        using (JsonDocument.Parse(File.ReadAllBytes(f))) { }
                        break;
                    case ".csv":
                    {
                        var text = File.ReadAllText(f);
                        var lines = text.Split('\n');
                        if (!text.EndsWith('\n')) problem = "last line incomplete";
                        else
                        {
                            int cols = lines[0].Split(',').Length;
                            if (lines[..^1].Any(l => l.Split(',').Length != cols)) problem = "a line has the wrong column count";
                        }
                        break;
                    }
                }
            }
            catch (Exception e) { problem = e.Message; }
            if (problem is not null) { bad++; Console.WriteLine($"  INCOMPLETE {f}: {problem}"); }
        }
        return (bad, temps, n);
    }

    private static (int Code, bool Killed) Start(string licb, string[] args, double? kill)
    {
        var psi = new ProcessStartInfo(licb) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {licb}");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => { if (!string.IsNullOrEmpty(e.Data)) Console.WriteLine($"  [licb stderr] {e.Data}"); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (kill is double seconds && !p.WaitForExit(TimeSpan.FromSeconds(seconds)))
        {
            // SIGKILL of this one child, by its id (Process.Kill sends SIGKILL on Linux).
            p.Kill(entireProcessTree: false);
            p.WaitForExit();
            return (p.ExitCode, true);
        }
        p.WaitForExit();
        return (p.ExitCode, false);
    }

    private static string FindLicb()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "src", "LicBackdoor.Cli", "bin", "Release", "net10.0", "linux-x64", "licb");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("licb not found: build src/LicBackdoor.Cli in Release or pass --licb PATH");
    }
}
