namespace LicBackdoor.Paper;

/// <summary>
/// The numbers the paper prints in its Tables 1-6 (Yu et al., CVPR 2023; transcribed in method-spec §6). They are the
/// reference our measurements sit beside, never an input to them. Tables 1-4 are Cheng2020-Anchor (qualities 1-6),
/// Tables 5-6 AE-Hyperprior q3, trained at full scale on ImageNet.
/// </summary>
public static class PaperTargets
{
    /// <summary>Table 1: pixel-wise ASR (%) of Car→Road on Cityscapes val, qualities 1-6, then the mean.</summary>
    public static readonly double[] Table1AsrLira = [6.0, 79.6, 67.7, 65.6, 65.7, 56.5, 56.9], Table1AsrOurs = [76.4, 81.0, 82.0, 66.6, 64.9, 58.4, 71.5];

    /// <summary>Table 1: MSE(f(x), f(x_p)) ×1e-5, qualities 1-6, then the mean.</summary>
    public static readonly double[] Table1MseLira = [4.9, 15.6, 8.4, 5.7, 4.2, 2.9, 7.0], Table1MseOurs = [10.8, 11.4, 7.7, 5.6, 4.2, 3.2, 7.2];

    /// <summary>Table 2: face-recognition accuracy (%) of attacked outputs, qualities 1-6, then the mean.</summary>
    public static readonly double[] Table2Lira = [10, 13, 32, 44, 58, 55, 35.3], Table2Ours = [3, 9, 29, 32, 44, 56, 28.3];

    /// <summary>Table 3 (Cheng q3, four triggers): bit-rate attack PSNR / bpp, quality attack PSNR / bpp, Car→Road ASR %, Vegetation→Building ASR %.</summary>
    public static readonly (double Psnr, double Bpp) Table3Bpp = (31.09, 9.053), Table3Psnr = (5.021, 0.2240);

    /// <summary>Table 3's ASRs (%).</summary>
    public const double Table3CarRoad = 78.2, Table3TreeBuilding = 95.3;

    /// <summary>Table 3's clean reference: vanilla and multi-trigger victim, PSNR / bpp.</summary>
    public static readonly (double Psnr, double Bpp) Table3Vanilla = (31.08, 0.2749), Table3Victim = (30.85, 0.2600);

    /// <summary>Table 4 (bit-rate attack, Cheng q3): clean PSNR, clean bpp, poisoned PSNR, poisoned bpp, by row id.</summary>
    public static readonly IReadOnlyDictionary<string, (double CleanPsnr, double CleanBpp, double PoisonedPsnr, double PoisonedBpp)> Table4 =
        new Dictionary<string, (double, double, double, double)>
        {
            ["static"] = (31.02, 0.2699, 31.41, 8.52),
            ["no-topk"] = (30.80, 0.2587, 31.32, 9.27),
            ["no-patch-weight"] = (30.76, 0.2578, 31.23, 9.08),
            ["k4-n16"] = (30.81, 0.2596, 31.32, 9.08),
            ["k64-n256"] = (30.86, 0.2599, 31.43, 9.14),
            ["full"] = (30.81, 0.2590, 31.30, 9.45),
        };

    /// <summary>Table 5's columns (none, Gaussian blur σ, colour-bit depth).</summary>
    public static readonly string[] Table5Columns = ["none", "blur:0.2", "blur:0.3", "blur:0.5", "blur:0.6", "squeeze:7", "squeeze:4", "squeeze:3"];

    /// <summary>Table 5 (quality attack, hyperprior q3): attack PSNR ↓ and clean PSNR ↑ in dB, per column of <see cref="Table5Columns"/>.</summary>
    public static readonly double[] Table5AttackLira = [6.31, 6.31, 6.35, 29.38, 28.68, 7.48, 8.14, 16.50], Table5AttackOurs = [3.46, 3.46, 3.46, 10.34, 20.76, 3.51, 5.65, 12.86],
                                    Table5CleanLira = [30.92, 30.92, 30.88, 29.56, 28.71, 30.79, 27.21, 21.98], Table5CleanOurs = [30.97, 30.97, 30.93, 29.62, 28.77, 30.88, 27.37, 22.08];

    /// <summary>Table 6 (trigger ×3, MSE ≤ 2.25e-4): attack PSNR / bpp under blur σ = 0.6 and squeezing to 3 bits.</summary>
    public static readonly (double Psnr, double Bpp) Table6LiraBlur = (30.33, 0.3227), Table6LiraSqueeze = (21.11, 0.3969),
                                                     Table6OursBlur = (4.08, 0.1970), Table6OursSqueeze = (4.98, 0.3151);

    /// <summary>Table 6's MSE bound of the amplified trigger.</summary>
    public const double Table6MseBound = 2.25e-4;
}
