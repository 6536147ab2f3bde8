using System.Globalization;
using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Defenses;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Evaluation;
using LicBackdoor.Reporting;

namespace LicBackdoor.Paper;

/// <summary>The experiments of one section of the paper report (a table, or Figs. 4/5).</summary>
/// <param name="Key">"1".."6", "fig4" or "fig5".</param>
/// <param name="Title">The section heading.</param>
/// <param name="Attacks">Its attack runs.</param>
/// <param name="Defenses">Its defence evaluations.</param>
/// <param name="Missing">Why it cannot run (missing weights or data), or null.</param>
public sealed record PaperSectionPlan(string Key, string Title, IReadOnlyList<PaperAttack> Attacks, IReadOnlyList<PaperDefense> Defenses, string? Missing = null);

/// <summary>One ordering the paper shows, checked against our measurements.</summary>
/// <param name="Source">Where the claim comes from (issue #7, or the paper's figure/table).</param>
/// <param name="Claim">The ordering in words.</param>
/// <param name="Holds">True/false, or null when not measured.</param>
/// <param name="Evidence">Our numbers.</param>
public sealed record PaperClaim(string Source, string Claim, bool? Holds, string Evidence)
{
    /// <summary>"holds (…)", "does not hold: …" or "cannot be checked: …".</summary>
    public string Verdict => Holds switch
    {
        true => $"holds ({Evidence})",
        false => $"**does not hold**: {Evidence}",
        null => $"cannot be checked: {Evidence}",
    };
}

/// <summary>What the runner measured for a section: the evaluations of its attacks and its defence evaluations, by id.</summary>
public sealed class PaperSectionResults
{
    /// <summary>Evaluations by attack id.</summary>
    public Dictionary<string, AttackEvaluationResult> Evaluations { get; } = new();

    /// <summary>Run folders by attack id.</summary>
    public Dictionary<string, string> RunFolders { get; } = new();

    /// <summary>Training wall seconds by attack id (from the run's files; null when unknown).</summary>
    public Dictionary<string, double?> TrainingSeconds { get; } = new();

    /// <summary>Defence evaluations by (attack id, amplification).</summary>
    public Dictionary<(string, double), DefenseEvaluationResult> Defenses { get; } = new();
}

/// <summary>A rendered section: its blocks, its ordering checks and the figures to write (file name, PNG bytes).</summary>
public sealed record PaperSection(IReadOnlyList<ReportBlock> Blocks, IReadOnlyList<PaperClaim> Claims, IReadOnlyList<(string File, byte[] Png)> Figures);

/// <summary>
/// The paper's Tables 1-6 and Figs. 4-5 (with Figs. 9-10 inside Tables 1-2) as lists of experiments, and how each is
/// rendered beside the paper's numbers (<see cref="PaperTargets"/>) with its ordering checks.
/// </summary>
public sealed class PaperTables(PaperPlanner planner)
{
    /// <summary>Every section key, in report order.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["1", "2", "3", "4", "5", "6", "fig4", "fig5"];

    private PaperBudget B => planner.Budget;
    private const string Lira = TriggerSpec.Lira, Freq = TriggerSpec.Frequency;
    private string CarRoad => B.CarRoadObjective;
    private string TreeBuilding => B.TreeBuildingObjective;

    private PaperAttack Attack(string id, int q, TriggerSpec trigger, params string[] objectives) => new(id, planner.Options(q, trigger, objectives));

    private IEnumerable<PaperAttack> PerQuality(string prefix, params string[] objectives) =>
        (prefix is "t1" or "t2" ? B.DownstreamQualityList : B.Qualities).SelectMany(q => new[] { Lira, Freq }.Select(k => Attack($"{prefix}-{k}-q{q}", q, new TriggerSpec(k), objectives)));

    /// <summary>The experiments of a section.</summary>
    public PaperSectionPlan Plan(string key)
    {
        int q = B.FixedQuality;
        switch (key)
        {
            case "1":
            {
                var missing = planner.Inputs.SegMissing();
                return new(key, "Table 1: Car → Road segmentation attack, frequency trigger vs LIRA (with Fig. 9)",
                    missing is null ? PerQuality("t1", CarRoad).ToList() : [], [], missing);
            }
            case "2":
            {
                var missing = planner.Inputs.FaceMissing();
                return new(key, "Table 2: face-privacy attack, frequency trigger vs LIRA (with Fig. 10)",
                    missing is null ? PerQuality("t2", B.FaceObjective).ToList() : [], [], missing);
            }
            case "3":
            {
                var missing = planner.Inputs.SegMissing();
                return new(key, "Table 3: four triggers in one encoder",
                    missing is null ? [Attack($"t3-multi-q{q}", q, new TriggerSpec(Freq), B.BppObjective, B.PsnrObjective, CarRoad, TreeBuilding)] : [], [], missing);
            }
            case "4":
                return new(key, "Table 4: ablations of the bit-rate attack",
                    Table4Rows.SelectMany(r => Enumerable.Range(1, B.AblationSeeds).Select(seed =>
                        new PaperAttack(Table4Id(r.Id, q, seed), planner.Options(q, r.Trigger, [r.Static ? B.StaticBppObjective : B.BppObjective]) with { Seed = (ulong)seed }))).ToList(), []);
            case "5":
            case "6":
            {
                var attacks = new[] { Lira, Freq }.Select(k => Attack($"psnr-{k}-q{q}", q, new TriggerSpec(k), B.PsnrObjective)).ToList();
                var defenses = key == "5"
                    ? attacks.Select(a => new PaperDefense(a.Id, PaperPlanner.Table5Defenses, 1)).ToList()
                    : attacks.SelectMany(a => new[] { new PaperDefense(a.Id, PaperPlanner.Table5Defenses, 1), new PaperDefense(a.Id, PaperPlanner.Table6Defenses, 3) }).ToList();
                return new(key, key == "5" ? "Table 5: input defences against the quality attack" : "Table 6: the trigger amplified ×3 against the strongest defences", attacks, defenses);
            }
            case "fig4":
                return new(key, "Fig. 4: the bit-rate attack across qualities, frequency trigger vs LIRA", PerQuality("bpp", B.BppObjective).ToList(), []);
            case "fig5":
                return new(key, "Fig. 5: the quality attack across qualities, frequency trigger vs LIRA", PerQuality("psnr", B.PsnrObjective).ToList(), []);
            default:
                throw new ArgumentException($"unknown paper section '{key}' (tables 1-6, figures 4, 5, 9, 10)");
        }
    }

    /// <summary>Table 4's rows: id, label, trigger options, static loss; the paper's rows first, then the frequency set.</summary>
    public static IReadOnlyList<(string Id, string Label, TriggerSpec Trigger, bool Static, bool InPaper)> Table4Rows { get; } =
    [
        ("static", "w/ Eq. (4) (static loss)", new TriggerSpec(), true, true),
        ("no-topk", "w/o top-K selection", new TriggerSpec(TopK: false), false, true),
        ("no-patch-weight", "w/o patch-wise weight", new TriggerSpec(PatchWeight: false), false, true),
        ("k4-n16", "K=4, N=16", new TriggerSpec(K: 4, Nf: 16), false, true),
        ("k64-n256", "K=64, N=256", new TriggerSpec(K: 64, Nf: 256), false, true),
        ("full", "full model, K=16, N=64 (Eq. 6)", new TriggerSpec(), false, true),
        ("zigzag", "frequency set: zigzag band (K=16, N=64), not in the paper", new TriggerSpec(Set: FrequencySet.ZigzagBand), false, false),
    ];

    // ---- rendering -------------------------------------------------------------------------------------------------

    /// <summary>Renders a section whose experiments are all measured.</summary>
    public PaperSection Render(PaperSectionPlan plan, PaperSectionResults r) => plan.Key switch
    {
        "1" => Table1(plan, r),
        "2" => Table2(plan, r),
        "3" => Table3(plan, r),
        "4" => Table4(plan, r),
        "5" => Table5(plan, r),
        "6" => Table6(plan, r),
        "fig4" => RdFigure(plan, r, "bpp"),
        "fig5" => RdFigure(plan, r, "psnr"),
        _ => throw new ArgumentException(plan.Key),
    };

    private IReadOnlyList<int> DQ => B.DownstreamQualityList;

    private IReadOnlyList<string> QualityColumns(IReadOnlyList<int> qualities) =>
        ["", .. qualities.Select(q => $"q{q}"), "mean"];

    private static string F(double v, int d) => double.IsFinite(v) ? v.ToString("F" + d, CultureInfo.InvariantCulture) : "—";
    private static string Pct(double v) => F(100 * v, 1);
    private static string Sci(double v) => double.IsFinite(v) ? v.ToString("0.00e+00", CultureInfo.InvariantCulture) : "—";
    private static string PB(CodingMeans m) => $"{F(m.Psnr, 2)} / {F(m.Bpp, 4)}";

    private AttackEvaluationResult E(PaperSectionResults r, string id) => r.Evaluations[id];

    private IReadOnlyList<string> Row(string label, IEnumerable<double> values, Func<double, string> format)
    {
        var list = values.ToList();
        return [label, .. list.Select(format), format(list.Count == 0 ? double.NaN : list.Average())];
    }

    private static IReadOnlyList<string> PaperRow(string label, double[] values, IReadOnlyList<int> qualities, Func<double, string> format) =>
        [label, .. qualities.Select(q => q >= 1 && q <= 6 ? format(values[q - 1]) : "—"), format(values[6])];

    private PaperSection Table1(PaperSectionPlan plan, PaperSectionResults r)
    {
        SegmentationAttackResult Seg(string k, int q) => E(r, $"t1-{k}-q{q}").Segmentation!.Single();
        var rows = new List<IReadOnlyList<string>>
        {
            Row("ASR % ↑, LIRA", DQ.Select(q => Seg(Lira, q).Main.Asr), Pct),
            Row("ASR % ↑, frequency (ours)", DQ.Select(q => Seg(Freq, q).Main.Asr), Pct),
            Row("MSE f(x)↔f(x_p) ×1e-5, LIRA", DQ.Select(q => Seg(Lira, q).Mse * 1e5), v => F(v, 2)),
            Row("MSE f(x)↔f(x_p) ×1e-5, frequency", DQ.Select(q => Seg(Freq, q).Mse * 1e5), v => F(v, 2)),
            Row("ASR % of the vanilla codec (trigger alone), LIRA", DQ.Select(q => Seg(Lira, q).Main.VanillaAsr), Pct),
            Row("ASR % of the vanilla codec (trigger alone), frequency", DQ.Select(q => Seg(Freq, q).Main.VanillaAsr), Pct),
            Row("mIoU % of g on the victim's clean output, LIRA", DQ.Select(q => Seg(Lira, q).Main.VictimMiou), Pct),
            Row("mIoU % of g on the victim's clean output, frequency", DQ.Select(q => Seg(Freq, q).Main.VictimMiou), Pct),
        };
        var paper = new List<IReadOnlyList<string>>
        {
            PaperRow("ASR %, LIRA", PaperTargets.Table1AsrLira, DQ, v => F(v, 1)),
            PaperRow("ASR %, ours", PaperTargets.Table1AsrOurs, DQ, v => F(v, 1)),
            PaperRow("MSE ×1e-5, LIRA", PaperTargets.Table1MseLira, DQ, v => F(v, 1)),
            PaperRow("MSE ×1e-5, ours", PaperTargets.Table1MseOurs, DQ, v => F(v, 1)),
        };
        var seg0 = Seg(Freq, DQ[0]);
        double asrL = DQ.Average(q => Seg(Lira, q).Main.Asr), asrF = DQ.Average(q => Seg(Freq, q).Main.Asr);
        var claims = new List<PaperClaim>
        {
            new("paper Table 1", "mean ASR: frequency trigger > LIRA", asrF > asrL, $"{Pct(asrF)} % vs {Pct(asrL)} % (paper 71.5 vs 56.9)"),
        };
        return DownstreamSection(r, "t1", "Fig. 9: clean rate-distortion of the Car → Road victims",
            $"Pixel-wise ASR (Eq. 12) on the first {seg0.Images} CamVid test images through real bitstreams, pooled over the images, with g = `{Path.GetFileName(planner.Inputs.SegNet)}` (ENet; the paper: DeepLabV3+ on Cityscapes val, victim Cheng-Anchor). MSE between the victim's decoded clean and attacked images in [0, 1] pixels.",
            rows, paper, claims);
    }

    /// <summary>Tables 1 and 2: the introduction, our per-quality table, the paper's, and the victims' clean RD figure.</summary>
    private PaperSection DownstreamSection(PaperSectionResults r, string prefix, string figureTitle, string introduction,
                                           List<IReadOnlyList<string>> rows, List<IReadOnlyList<string>> paper, List<PaperClaim> claims)
    {
        var fig = CleanRdFigure(r, prefix, figureTitle);
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph(introduction),
            new ReportTableBlock(new ReportTable("Measured", QualityColumns(DQ), rows)),
            new ReportTableBlock(new ReportTable("Paper (Cheng-Anchor; its qualities with the same index; mean over its q1-q6)", QualityColumns(DQ), paper)),
            fig.Figure,
        };
        return new PaperSection(blocks, claims, [fig.Png]);
    }

    private PaperSection Table2(PaperSectionPlan plan, PaperSectionResults r)
    {
        FaceAttackResult Face(string k, int q) => E(r, $"t2-{k}-q{q}").Face!.Single();
        var rows = new List<IReadOnlyList<string>>
        {
            Row("attacked accuracy % ↓, LIRA", DQ.Select(q => Face(Lira, q).HeldOut.AttackedAccuracy), Pct),
            Row("attacked accuracy % ↓, frequency (ours)", DQ.Select(q => Face(Freq, q).HeldOut.AttackedAccuracy), Pct),
            Row("clean output vs attacked output, accuracy % ↓, LIRA", DQ.Select(q => Face(Lira, q).HeldOut.MixedAccuracy), Pct),
            Row("clean output vs attacked output, accuracy % ↓, frequency (ours)", DQ.Select(q => Face(Freq, q).HeldOut.MixedAccuracy), Pct),
            Row("clean-output accuracy %, LIRA victim", DQ.Select(q => Face(Lira, q).HeldOut.VictimCleanAccuracy), Pct),
            Row("clean-output accuracy %, frequency victim", DQ.Select(q => Face(Freq, q).HeldOut.VictimCleanAccuracy), Pct),
            Row("mean descriptor distance clean ↔ attacked, LIRA", DQ.Select(q => Face(Lira, q).CleanToAttackedDistance), v => F(v, 3)),
            Row("mean descriptor distance clean ↔ attacked, frequency", DQ.Select(q => Face(Freq, q).CleanToAttackedDistance), v => F(v, 3)),
        };
        var paper = new List<IReadOnlyList<string>>
        {
            PaperRow("accuracy %, LIRA", PaperTargets.Table2Lira, DQ, v => F(v, 1)),
            PaperRow("accuracy %, ours", PaperTargets.Table2Ours, DQ, v => F(v, 1)),
        };
        var f0 = Face(Freq, DQ[0]).HeldOut;
        double accL = DQ.Average(q => Face(Lira, q).HeldOut.AttackedAccuracy), accF = DQ.Average(q => Face(Freq, q).HeldOut.AttackedAccuracy);
        var claims = new List<PaperClaim>
        {
            new("paper Table 2", "mean attacked accuracy: frequency trigger < LIRA", accF < accL, $"{Pct(accF)} % vs {Pct(accL)} % (paper 28.3 vs 35.3)"),
        };
        return DownstreamSection(r, "t2", "Fig. 10: clean rate-distortion of the face-privacy victims",
            $"Verification accuracy at descriptor distance < 0.6 of face-api's recognition net on the victim's outputs of both attacked crops (and of one clean output against one attacked output), over the {f0.PairCount} pairs of held-out identities ({f0.Same} same, {f0.Different} different; the paper: ArcFace on 100 CelebA pairs, victim Cheng-Anchor).",
            rows, paper, claims);
    }

    private PaperSection Table3(PaperSectionPlan plan, PaperSectionResults r)
    {
        var e = E(r, plan.Attacks[0].Id);
        var bpp = e.Summary(BackdoorObjectiveName(B.BppObjective));
        var psnr = e.Summary(BackdoorObjectiveName(B.PsnrObjective));
        var car = e.Segmentation!.Single(s => s.Objective == BackdoorObjectiveName(CarRoad));
        var tree = e.Segmentation!.Single(s => s.Objective == BackdoorObjectiveName(TreeBuilding));
        var columns = new[] { "", "vanilla clean (PSNR / bpp)", "victim clean", "bit-rate attack (PSNR / bpp)", "quality attack (PSNR / bpp)", "Car → Road ASR %", "Tree → Building ASR %" };
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "measured", PB(e.VanillaClean), PB(e.VictimClean), PB(bpp.Victim), PB(psnr.Victim), Pct(car.Main.Asr), Pct(tree.Main.Asr) },
            new[] { "paper (Cheng-Anchor q3)", $"{F(PaperTargets.Table3Vanilla.Psnr, 2)} / {F(PaperTargets.Table3Vanilla.Bpp, 4)}", $"{F(PaperTargets.Table3Victim.Psnr, 2)} / {F(PaperTargets.Table3Victim.Bpp, 4)}",
                    $"{F(PaperTargets.Table3Bpp.Psnr, 2)} / {F(PaperTargets.Table3Bpp.Bpp, 3)}", $"{F(PaperTargets.Table3Psnr.Psnr, 2)} / {F(PaperTargets.Table3Psnr.Bpp, 4)}",
                    F(PaperTargets.Table3CarRoad, 1), F(PaperTargets.Table3TreeBuilding, 1) },
        };
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph($"One encoder of {B.Model} q{B.FixedQuality} with four frequency triggers (`{B.BppObjective}`, `{B.PsnrObjective}`, `{CarRoad}`, `{TreeBuilding}`). PSNR (dB) / bpp are Kodak means ({e.Images.Count} images) of the victim on the poisoned images; ASR on the first {car.Images} CamVid test images (the paper: Cityscapes)."),
            new ReportTableBlock(new ReportTable("", columns, rows)),
        };
        return new PaperSection(blocks, [], []);
    }

    private static string BackdoorObjectiveName(string spec) => Backdoor.Objectives.BackdoorObjective.Parse(spec).Name;

    /// <summary>A Table 4 run's id: seed 1 keeps the single-seed id, further seeds add <c>-sN</c>.</summary>
    private static string Table4Id(string row, int q, int seed) => seed == 1 ? $"t4-{row}-q{q}" : $"t4-{row}-q{q}-s{seed}";

    private PaperSection Table4(PaperSectionPlan plan, PaperSectionResults r)
    {
        int q = B.FixedQuality, n = B.AblationSeeds;
        IReadOnlyList<AttackEvaluationResult> Runs(string id) => Enumerable.Range(1, n).Select(seed => E(r, Table4Id(id, q, seed))).ToList();
        double Mean(string id, Func<AttackEvaluationResult, double> f) => Runs(id).Average(f);
        double Poisoned(string id) => Mean(id, e => e.Summaries.Single().Victim.Bpp);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var row in Table4Rows)
        {
            var runs = Runs(row.Id);
            string paper = PaperTargets.Table4.TryGetValue(row.Id, out var p) ? $"{F(p.CleanPsnr, 2)} / {F(p.CleanBpp, 4)}" : "—";
            string paperPoisoned = PaperTargets.Table4.TryGetValue(row.Id, out var pp) ? $"{F(pp.PoisonedPsnr, 2)} / {F(pp.PoisonedBpp, 2)}" : "—";
            var cells = new List<string>
            {
                row.Label, F(Mean(row.Id, e => e.VictimClean.Psnr), 2), F(Mean(row.Id, e => e.VictimClean.Bpp), 4),
                F(Mean(row.Id, e => e.Summaries.Single().Victim.Psnr), 2), F(Poisoned(row.Id), 4),
            };
            if (n > 1) cells.Add(string.Join(" / ", runs.Select(e => F(e.Summaries.Single().Victim.Bpp, 4))));
            cells.AddRange(["×" + F(Mean(row.Id, e => e.Summaries.Single().BppRatio), 2), F(Mean(row.Id, e => e.Summaries.Single().TriggerPsnr), 2), paper, paperPoisoned]);
            rows.Add(cells);
        }
        string mean = n > 1 ? $" (means over {n} seeds)" : "";
        double full = Poisoned("full"), stat = Poisoned("static");
        var claims = new List<PaperClaim>
        {
            new("issue #7 (Table 4)", $"dynamic loss (Eq. 6) ≥ static loss (Eq. 4) on poisoned bpp{mean}", full >= stat, $"{F(full, 4)} vs {F(stat, 4)} bpp"),
        };
        foreach (var row in Table4Rows.Where(x => x.InPaper && x.Id is not "full" and not "static"))
        {
            double other = Poisoned(row.Id);
            claims.Add(new("issue #7 (Table 4)", $"full model ≥ {row.Label} on poisoned bpp{mean}", full >= other, $"{F(full, 4)} vs {F(other, 4)} bpp"));
        }
        var first = E(r, Table4Id("full", q, 1));
        var columns = new List<string> { "variant", "clean PSNR", "clean bpp", "poisoned PSNR", "poisoned bpp ↑" };
        if (n > 1) columns.Add($"poisoned bpp, seeds 1-{n}");
        columns.AddRange(["bpp ratio", "trigger PSNR", "paper: clean PSNR / bpp", "paper: poisoned PSNR / bpp"]);
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph($"Bit-rate attack (`{B.BppObjective}`; the static row `{B.StaticBppObjective}`), {B.Model} q{q}, Kodak ({first.Images.Count} images), victim's PSNR (dB) against the clean image and real bpp{(n > 1 ? $"; every figure is the mean over {n} runs that differ only in their seed (1-{n}), whose poisoned bpp are listed" : "")}. Vanilla codec on clean images: {PB(first.VanillaClean)}. The paper's rows are Cheng-Anchor q3 (clean ≈ 0.26 bpp, poisoned ≈ 9 bpp)."),
            new ReportTableBlock(new ReportTable("", columns, rows)),
        };
        return new PaperSection(blocks, claims, []);
    }

    private (DefenseEvaluationResult Lira, DefenseEvaluationResult Freq) DefensePair(PaperSectionResults r, double amplification) =>
        (r.Defenses[($"psnr-{Lira}-q{B.FixedQuality}", amplification)], r.Defenses[($"psnr-{Freq}-q{B.FixedQuality}", amplification)]);

    private PaperSection Table5(PaperSectionPlan plan, PaperSectionResults r)
    {
        var (lira, freq) = DefensePair(r, 1);
        var name = BackdoorObjectiveName(B.PsnrObjective);
        var cols = PaperPlanner.Table5Defenses;
        double Attack(DefenseEvaluationResult d, string c) => d.Summary(c, name).Poisoned.Psnr;
        double Clean(DefenseEvaluationResult d, string c) => d.Summary(c, name).Clean.Psnr;
        double[] PaperCols(double[] v) => cols.Select(c => v[Array.IndexOf(PaperTargets.Table5Columns, c)]).ToArray();
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "attack PSNR ↓, LIRA: measured" }.Concat(cols.Select(c => F(Attack(lira, c), 2))).ToList(),
            new[] { "attack PSNR ↓, LIRA: paper" }.Concat(PaperCols(PaperTargets.Table5AttackLira).Select(v => F(v, 2))).ToList(),
            new[] { "attack PSNR ↓, frequency: measured" }.Concat(cols.Select(c => F(Attack(freq, c), 2))).ToList(),
            new[] { "attack PSNR ↓, frequency: paper" }.Concat(PaperCols(PaperTargets.Table5AttackOurs).Select(v => F(v, 2))).ToList(),
            new[] { "clean PSNR ↑, LIRA victim: measured" }.Concat(cols.Select(c => F(Clean(lira, c), 2))).ToList(),
            new[] { "clean PSNR ↑, LIRA victim: paper" }.Concat(PaperCols(PaperTargets.Table5CleanLira).Select(v => F(v, 2))).ToList(),
            new[] { "clean PSNR ↑, frequency victim: measured" }.Concat(cols.Select(c => F(Clean(freq, c), 2))).ToList(),
            new[] { "clean PSNR ↑, frequency victim: paper" }.Concat(PaperCols(PaperTargets.Table5CleanOurs).Select(v => F(v, 2))).ToList(),
            new[] { "attack bpp, LIRA: measured" }.Concat(cols.Select(c => F(lira.Summary(c, name).Poisoned.Bpp, 4))).ToList(),
            new[] { "attack bpp, frequency: measured" }.Concat(cols.Select(c => F(freq.Summary(c, name).Poisoned.Bpp, 4))).ToList(),
        };
        var claims = new List<PaperClaim>();
        foreach (var c in new[] { "blur:0.5", "blur:0.6", "squeeze:3" })
            claims.Add(new("issue #7 (Table 5)", $"frequency trigger more robust than LIRA under {c} (lower attack PSNR)", Attack(freq, c) < Attack(lira, c),
                $"{F(Attack(freq, c), 2)} vs {F(Attack(lira, c), 2)} dB"));
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph($"Quality attack (`{B.PsnrObjective}`), {B.Model} q{B.FixedQuality}; the defence D is applied to the 8-bit poisoned input (attack rows) or the clean input (clean rows) before the victim's encoder; PSNR (dB) against the clean image, Kodak ({freq.Images.Count} images), real bitstreams. Gaussian blur 5x5 (σ), colour-bit squeezing (depth)."),
            new ReportTableBlock(new ReportTable("", ["", .. cols], rows)),
        };
        return new PaperSection(blocks, claims, []);
    }

    private PaperSection Table6(PaperSectionPlan plan, PaperSectionResults r)
    {
        var (lira1, freq1) = DefensePair(r, 1);
        var (lira3, freq3) = DefensePair(r, 3);
        var name = BackdoorObjectiveName(B.PsnrObjective);
        string Cell(DefenseEvaluationResult d, string c) => $"{F(d.Summary(c, name).Poisoned.Psnr, 2)} / {F(d.Summary(c, name).Poisoned.Bpp, 4)}";
        double Mse(DefenseEvaluationResult d) => d.Images.Average(i => i.TriggerMse?[0] ?? double.NaN);
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "LIRA ×3: measured", Cell(lira3, "none"), Cell(lira3, "blur:0.6"), Cell(lira3, "squeeze:3"), Sci(Mse(lira3)) },
            new[] { "LIRA ×3: paper", "—", $"{F(PaperTargets.Table6LiraBlur.Psnr, 2)} / {F(PaperTargets.Table6LiraBlur.Bpp, 4)}", $"{F(PaperTargets.Table6LiraSqueeze.Psnr, 2)} / {F(PaperTargets.Table6LiraSqueeze.Bpp, 4)}", "≤ 2.25e-04" },
            new[] { "frequency ×3: measured", Cell(freq3, "none"), Cell(freq3, "blur:0.6"), Cell(freq3, "squeeze:3"), Sci(Mse(freq3)) },
            new[] { "frequency ×3: paper", "—", $"{F(PaperTargets.Table6OursBlur.Psnr, 2)} / {F(PaperTargets.Table6OursBlur.Bpp, 4)}", $"{F(PaperTargets.Table6OursSqueeze.Psnr, 2)} / {F(PaperTargets.Table6OursSqueeze.Bpp, 4)}", "≤ 2.25e-04" },
            new[] { "LIRA ×1 (reference): measured", Cell(lira1, "none"), Cell(lira1, "blur:0.6"), Cell(lira1, "squeeze:3"), Sci(Mse(lira1)) },
            new[] { "frequency ×1 (reference): measured", Cell(freq1, "none"), Cell(freq1, "blur:0.6"), Cell(freq1, "squeeze:3"), Sci(Mse(freq1)) },
        };
        double P(DefenseEvaluationResult d, string c) => d.Summary(c, name).Poisoned.Psnr;
        const double restoreMargin = 2.0;
        var claims = new List<PaperClaim>();
        // "Restores" presupposes an attack that works undefended: a PSNR drop of at least 10 dB against the victim's clean output.
        const double workingDrop = 10.0;
        double drop = freq1.Summary("none", name).PsnrDrop;
        foreach (var c in new[] { "blur:0.6", "squeeze:3" })
        {
            bool? holds = drop < workingDrop ? null : P(freq3, c) < P(freq1, c) && P(freq3, c) <= P(freq1, "none") + restoreMargin;
            string evidence = $"×3 {F(P(freq3, c), 2)} dB, ×1 {F(P(freq1, c), 2)} dB, undefended ×1 {F(P(freq1, "none"), 2)} dB";
            claims.Add(new("issue #7 (Table 6)", $"the ×3 frequency trigger restores the quality attack under {c} (attack PSNR below the ×1 trigger's under {c}, and within {restoreMargin:F0} dB of the undefended ×1 attack)",
                holds, holds is null ? $"the undefended ×1 attack lowers the PSNR by only {F(drop, 2)} dB (< {workingDrop:F0}), so there is nothing to restore; {evidence}" : evidence));
        }
        foreach (var c in new[] { "blur:0.6", "squeeze:3" })
            claims.Add(new("paper Table 6", $"×3 frequency trigger stronger than ×3 LIRA under {c}", P(freq3, c) < P(lira3, c), $"{F(P(freq3, c), 2)} vs {F(P(lira3, c), 2)} dB"));
        claims.Add(new("paper Table 6", "the ×3 poisoned inputs stay within MSE 2.25e-4", Mse(freq3) <= PaperTargets.Table6MseBound && Mse(lira3) <= PaperTargets.Table6MseBound,
            $"frequency {Sci(Mse(freq3))}, LIRA {Sci(Mse(lira3))}"));
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph($"The runs of Table 5 with the learned perturbation multiplied by 3 (x_p' = clamp(x + 3·(T(x) − x)), 8-bit); victim's attack PSNR (dB) / bpp on the defended poisoned input, Kodak ({freq3.Images.Count} images); last column: MSE of the poisoned input against x before any defence."),
            new ReportTableBlock(new ReportTable("", ["", "none", "blur:0.6", "squeeze:3", "trigger MSE"], rows)),
        };
        return new PaperSection(blocks, claims, []);
    }

    private PaperSection RdFigure(PaperSectionPlan plan, PaperSectionResults r, string kind)
    {
        var prefix = kind;
        var results = plan.Attacks.Select(a => E(r, a.Id)).ToList();
        var curves = AttackReport.RdCurves(results, kind);
        string file = kind == "bpp" ? "fig4-bpp-attack.png" : "fig5-psnr-attack.png";
        string title = kind == "bpp" ? "Fig. 4: bit-rate attack" : "Fig. 5: quality attack";
        var png = RdPlot.RenderPng(curves, new RdPlotOptions { Title = $"{title}, {B.Model} (Kodak, {results[0].Images.Count} images)", FitBpp = true, LegendOutside = true, Width = 1100, Height = 650 });
        var rows = new List<IReadOnlyList<string>>();
        var claims = new List<PaperClaim>();
        foreach (var q in B.Qualities)
        {
            var l = E(r, $"{prefix}-{Lira}-q{q}");
            var f = E(r, $"{prefix}-{Freq}-q{q}");
            var ls = l.Summaries.Single();
            var fs = f.Summaries.Single();
            rows.Add([$"q{q}", PB(f.VanillaClean), PB(l.VictimClean), PB(ls.Victim), PB(f.VictimClean), PB(fs.Victim), "×" + F(ls.BppRatio, 2), "×" + F(fs.BppRatio, 2)]);
            claims.Add(kind == "bpp"
                ? new PaperClaim("paper Fig. 4", $"q{q}: poisoned bpp of the frequency victim > LIRA's", fs.Victim.Bpp > ls.Victim.Bpp, $"{F(fs.Victim.Bpp, 4)} vs {F(ls.Victim.Bpp, 4)} bpp")
                : new PaperClaim("paper Fig. 5", $"q{q}: poisoned PSNR of the frequency victim < LIRA's", fs.Victim.Psnr < ls.Victim.Psnr, $"{F(fs.Victim.Psnr, 2)} vs {F(ls.Victim.Psnr, 2)} dB"));
        }
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph($"One single-objective attack (`{(kind == "bpp" ? B.BppObjective : B.PsnrObjective)}`) per trigger and quality; Kodak means, PSNR (dB) / bpp, PSNR against the clean image. The paper gives these only as figures (Cheng-Anchor and AE-Hyperprior)."),
            new ReportTableBlock(new ReportTable("", ["quality", "vanilla clean", "LIRA victim clean", "LIRA victim poisoned", "frequency victim clean", "frequency victim poisoned", "LIRA bpp ratio", "frequency bpp ratio"], rows)),
            new ReportFigure(file, $"{title}: vanilla codec and victims on clean images (solid) and victims on poisoned images (dashed), one point per quality."),
        };
        return new PaperSection(blocks, claims, [(file, png)]);
    }

    private (ReportFigure Figure, (string, byte[]) Png) CleanRdFigure(PaperSectionResults r, string prefix, string title)
    {
        RdPoint Point(AttackEvaluationResult e, CodingMeans m) => new($"q{e.Quality}", m.Bpp, m.Psnr, m.MsSsim) { Images = e.Images.Count };
        var curves = new List<RdCurve>
        {
            new("vanilla", RdCurveKind.Learned, "float", "vanilla codec on clean images", DQ.Select(q => Point(E(r, $"{prefix}-{Freq}-q{q}"), E(r, $"{prefix}-{Freq}-q{q}").VanillaClean)).ToList()),
            new("victim (frequency)", RdCurveKind.Learned, "float", "frequency victim on clean images", DQ.Select(q => Point(E(r, $"{prefix}-{Freq}-q{q}"), E(r, $"{prefix}-{Freq}-q{q}").VictimClean)).ToList()),
            new("victim (LIRA)", RdCurveKind.Learned, "float", "LIRA victim on clean images", DQ.Select(q => Point(E(r, $"{prefix}-{Lira}-q{q}"), E(r, $"{prefix}-{Lira}-q{q}").VictimClean)).ToList()),
        };
        string file = prefix == "t1" ? "fig9-seg-clean-rd.png" : "fig10-face-clean-rd.png";
        int n = E(r, $"{prefix}-{Freq}-q{DQ[0]}").Images.Count;
        var png = RdPlot.RenderPng(curves, new RdPlotOptions { Title = $"{title} (Kodak, {n} images)", FitBpp = true, LegendOutside = true, Width = 1100, Height = 650 });
        return (new ReportFigure(file, $"{title}: the vanilla codec and the backdoored encoders on clean Kodak images, one point per quality (the paper: equal to vanilla)."), (file, png));
    }
}
