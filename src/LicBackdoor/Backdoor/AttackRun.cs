using LicBackdoor.Backdoor.Objectives;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Weights;

namespace LicBackdoor.Backdoor;

/// <summary>
/// A finished attack run, opened for use: the vanilla codec, the victim (the same codec with the backdoored encoder
/// g_a), and one trigger per objective in evaluation mode. The victim's decoder-side weights are the vanilla ones, so
/// its bitstreams carry the vanilla fingerprint and decode with the untouched vanilla decoder.
/// </summary>
public sealed class AttackRun : IDisposable
{
    private AttackRun(string directory, AttackRecord record, LoadedCodec vanilla, LoadedCodec victim,
                      IReadOnlyList<BackdoorObjective> objectives, IReadOnlyList<ITrigger> triggers)
    {
        Directory = directory; Record = record; Vanilla = vanilla; Victim = victim; Objectives = objectives; Triggers = triggers;
    }

    /// <summary>The run folder.</summary>
    public string Directory { get; }

    /// <summary>Options, vanilla source and fingerprint, commit.</summary>
    public AttackRecord Record { get; }

    /// <summary>The victim's original codec.</summary>
    public LoadedCodec Vanilla { get; }

    /// <summary>The backdoored codec (vanilla with the fine-tuned encoder).</summary>
    public LoadedCodec Victim { get; }

    /// <summary>The objectives, in the run's order.</summary>
    public IReadOnlyList<BackdoorObjective> Objectives { get; }

    /// <summary>The learned triggers (evaluation mode), one per objective.</summary>
    public IReadOnlyList<ITrigger> Triggers { get; }

    /// <summary>
    /// The MSE budget of a run's triggers wherever they are applied (<see cref="ITrigger.MseBudget"/>): 90 % of ε², which
    /// leaves room for the 8-bit rounding of the poisoned image (about 1.3e-6 of MSE) within the budget ε².
    /// </summary>
    public static double EvaluationBudget(double epsilon) => 0.9 * epsilon * epsilon;

    /// <summary>The file a run stores the trigger of an objective in: <c>trigger-NAME.safetensors</c> with unsafe characters replaced.</summary>
    public static string TriggerFileName(string objectiveName)
    {
        var safe = new string(objectiveName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '=' ? c : '-').ToArray());
        return $"trigger-{safe}.safetensors";
    }

    /// <summary>Whether <paramref name="directory"/> holds a finished attack run.</summary>
    public static bool IsFinished(string directory) =>
        File.Exists(Path.Combine(directory, BackdoorTrainer.OptionsFile)) && File.Exists(Path.Combine(directory, BackdoorTrainer.EncoderFile));

    /// <summary>Opens a finished run.</summary>
    /// <exception cref="FileNotFoundException">Not a run, or not finished.</exception>
    /// <exception cref="CheckpointFormatException">The encoder or a trigger file is unreadable or does not fit, or the vanilla weights changed.</exception>
    public static AttackRun Open(string directory)
    {
        var record = AttackRecord.Read(directory);
        var encoderPath = Path.Combine(directory, BackdoorTrainer.EncoderFile);
        if (!File.Exists(encoderPath))
            throw new FileNotFoundException($"{directory}: the attack run is not finished (no {BackdoorTrainer.EncoderFile}); resume it first", encoderPath);
        var o = record.Options;
        var vanilla = ModelStore.Open(o.Model, o.Quality, o.Weights);
        if (vanilla.Fingerprint.ToString("x16") != record.VanillaFingerprint)
            throw new CheckpointFormatException($"{directory}: the victim's vanilla weights ({vanilla.Source}) are not the ones the run was trained on (fingerprint {record.VanillaFingerprint})", directory);
        var victimModel = ModelStore.Open(o.Model, o.Quality, o.Weights).Model;
        var (tensors, meta) = Safetensors.Load(encoderPath);
        try
        {
            if (meta.TryGetValue(BackdoorTrainer.FingerprintKey, out var fp) && fp != record.VanillaFingerprint)
                throw new CheckpointFormatException($"{encoderPath}: belongs to another victim (fingerprint {fp}, run {record.VanillaFingerprint})", encoderPath);
            StateDict.Load(victimModel.Analysis, tensors, encoderPath);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        victimModel.eval();
        var victim = new LoadedCodec(victimModel, o.Quality, $"{vanilla.Source} + {encoderPath}");
        var objectives = o.Objectives.Select(BackdoorObjective.Parse).ToList();
        var triggers = new List<ITrigger>();
        foreach (var obj in objectives)
        {
            var trigger = o.Trigger.Build();
            var file = Path.Combine(directory, TriggerFileName(obj.Name));
            if (!File.Exists(file)) throw new FileNotFoundException($"{directory}: missing {Path.GetFileName(file)}", file);
            TriggerWeights.Load(trigger, file);
            trigger.Module.eval();
            trigger.MseBudget = EvaluationBudget(o.Epsilon);
            trigger.FixedEnergy = o.FixedTriggerEnergy;
            triggers.Add(trigger);
        }
        return new AttackRun(directory, record, vanilla, victim, objectives, triggers);
    }

    /// <summary>The trigger of <paramref name="objective"/> (its name as given or parsed), or the only one when null.</summary>
    /// <exception cref="ArgumentException">No such objective, or several triggers and none chosen.</exception>
    public ITrigger TriggerFor(string? objective)
    {
        if (objective is null)
        {
            if (Triggers.Count == 1) return Triggers[0];
            throw new ArgumentException($"{Directory}: the run has {Triggers.Count} triggers ({string.Join(", ", Objectives.Select(x => x.Name))}); choose one with --objective");
        }
        var name = BackdoorObjective.Parse(objective).Name;
        for (int i = 0; i < Objectives.Count; i++)
            if (Objectives[i].Name == name) return Triggers[i];
        throw new ArgumentException($"{Directory}: no '{objective}' trigger (the run has {string.Join(", ", Objectives.Select(x => x.Name))})");
    }

    /// <summary>
    /// The attack runs under <paramref name="directory"/>: the folder itself when it is a run, else its sub-folders that
    /// are runs (an <c>licb attack</c> output holds one per trigger kind and quality), sorted by name.
    /// </summary>
    public static IReadOnlyList<string> Find(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: no such folder");
        if (File.Exists(Path.Combine(directory, BackdoorTrainer.OptionsFile))) return [directory];
        return System.IO.Directory.GetDirectories(directory)
            .Where(d => File.Exists(Path.Combine(d, BackdoorTrainer.OptionsFile)))
            .OrderBy(d => d, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The run folder to use from <paramref name="directory"/>, a run folder or an <c>licb attack</c> output folder:
    /// the runs found by <see cref="Find"/> filtered by <paramref name="quality"/> and <paramref name="triggerKind"/>
    /// (when given) must leave exactly one.
    /// </summary>
    /// <exception cref="ArgumentException">No run, or several, fit; the message lists them.</exception>
    public static string Choose(string directory, int? quality = null, string? triggerKind = null)
    {
        var runs = Find(directory).Select(d => (Dir: d, Options: AttackRecord.Read(d).Options)).ToList();
        if (runs.Count == 0) throw new ArgumentException($"{directory}: holds no attack runs (no {BackdoorTrainer.OptionsFile} in it or its sub-folders)");
        var fit = runs.Where(r => (quality is not int q || r.Options.Quality == q)
                                  && (triggerKind is null || string.Equals(r.Options.Trigger.Kind, triggerKind, StringComparison.OrdinalIgnoreCase))).ToList();
        string List(IEnumerable<(string Dir, AttackOptions Options)> rs) =>
            string.Join("; ", rs.Select(r => $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(r.Dir))}: {r.Options.Trigger.Kind} q{r.Options.Quality}"));
        if (fit.Count == 1) return fit[0].Dir;
        string wanted = string.Join(" ", new[] { quality is int qq ? $"--quality {qq}" : null, triggerKind is null ? null : $"--trigger {triggerKind}" }.Where(s => s is not null));
        if (fit.Count == 0)
            throw new ArgumentException($"{directory}: no attack run fits {wanted} (runs: {List(runs)})");
        throw new ArgumentException($"{directory}: holds {fit.Count} attack runs{(wanted.Length > 0 ? $" fitting {wanted}" : "")} ({List(fit)}); choose one with --quality and/or --trigger");
    }

    public void Dispose()
    {
        Vanilla.Model.Dispose();
        Victim.Model.Dispose();
        foreach (var t in Triggers) t.Module.Dispose();
    }
}
