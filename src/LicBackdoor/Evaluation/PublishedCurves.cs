namespace LicBackdoor.Evaluation;

/// <summary>
/// CompressAI's published rate-distortion results on Kodak (24 images, 768x512; each value the mean of per-image
/// values), for the MSE-trained models, and the PSNR gap of a measured curve to them at equal bpp.
/// </summary>
/// <remarks>
/// Source: CompressAI's <c>results/image/kodak/compressai-bmshj2018-hyperprior_mse_cuda.json</c> and
/// <c>compressai-cheng2020-anchor_mse_cuda.json</c> ("Inference (ans)": real bitstreams, metrics on the float
/// reconstruction), as transcribed in <c>shared/docs/compressai-spec.md</c> §7. Their 8-bit PSNR is lower by
/// 0.004-0.064 dB (more at high rates). CompressAI's cheng2020-anchor has no GMM and no attention, so it lies below
/// the numbers of Cheng et al.'s paper.
/// </remarks>
public static class PublishedCurves
{
    /// <summary>Where the numbers come from, for reports.</summary>
    public const string SourceNote = "CompressAI results/image/kodak/*_mse_cuda.json (float metrics), via compressai-spec §7";

    /// <summary>CompressAI bmshj2018-hyperprior (MSE), qualities 1-8: (bpp, PSNR dB, MS-SSIM).</summary>
    public static IReadOnlyList<(double Bpp, double Psnr, double MsSsim)> Bmshj2018HyperpriorPoints { get; } =
    [
        (0.13129, 27.582, 0.9174),
        (0.20889, 29.197, 0.9421),
        (0.31986, 30.972, 0.9611),
        (0.47836, 32.838, 0.9749),
        (0.66869, 34.526, 0.9836),
        (0.93883, 36.743, 0.9893),
        (1.25917, 38.584, 0.9929),
        (1.66022, 40.557, 0.9955),
    ];

    /// <summary>CompressAI cheng2020-anchor (MSE), qualities 1-6: (bpp, PSNR dB, MS-SSIM).</summary>
    public static IReadOnlyList<(double Bpp, double Psnr, double MsSsim)> Cheng2020AnchorPoints { get; } =
    [
        (0.11959, 28.582, 0.9236),
        (0.18380, 29.969, 0.9465),
        (0.27095, 31.343, 0.9629),
        (0.41738, 33.390, 0.9758),
        (0.59447, 35.119, 0.9841),
        (0.80574, 36.704, 0.9893),
    ];

    /// <summary>CompressAI's bmshj2018-hyperprior curve.</summary>
    public static RdCurve Bmshj2018Hyperprior { get; } = ToCurve("CompressAI bmshj2018-hyperprior", Bmshj2018HyperpriorPoints);

    /// <summary>CompressAI's cheng2020-anchor curve.</summary>
    public static RdCurve Cheng2020Anchor { get; } = ToCurve("CompressAI cheng2020-anchor", Cheng2020AnchorPoints);

    /// <summary>Both published curves.</summary>
    public static IReadOnlyList<RdCurve> All { get; } = [Bmshj2018Hyperprior, Cheng2020Anchor];

    /// <summary>
    /// The published curve of the same architecture as <paramref name="model"/> (a name containing "hyperprior" or
    /// "cheng2020", so CPU-sized variants such as "hyperprior-mini" match too), or null.
    /// </summary>
    public static RdCurve? ForModel(string model) =>
        model.Contains("hyperprior", StringComparison.OrdinalIgnoreCase) ? Bmshj2018Hyperprior
        : model.Contains("cheng2020", StringComparison.OrdinalIgnoreCase) ? Cheng2020Anchor
        : null;

    /// <summary>
    /// The published curve's PSNR at <paramref name="bpp"/>: linear interpolation of PSNR in log(bpp) between
    /// the two neighbouring published points; null outside the published bpp range (no extrapolation).
    /// </summary>
    public static double? PsnrAt(RdCurve published, double bpp)
    {
        ArgumentNullException.ThrowIfNull(published);
        if (!(bpp > 0)) return null;
        return PiecewiseRdCurve.Linear(published.SortedByBpp.Select(p => (Math.Log(p.Bpp), p.Psnr)).ToList(), Math.Log(bpp));
    }

    /// <summary>
    /// PSNR gap in dB at equal bpp: <paramref name="psnr"/> minus the published PSNR at <paramref name="bpp"/>
    /// (<see cref="PsnrAt"/>); negative when below the published curve, null outside its bpp range.
    /// </summary>
    public static double? PsnrGap(RdCurve published, double bpp, double psnr) =>
        PsnrAt(published, bpp) is double reference ? psnr - reference : null;

    /// <summary>The gap of every point of <paramref name="curve"/> (in its point order) to <paramref name="published"/>.</summary>
    public static IReadOnlyList<double?> PsnrGaps(RdCurve curve, RdCurve published)
    {
        ArgumentNullException.ThrowIfNull(curve);
        return curve.Points.Select(p => PsnrGap(published, p.Bpp, p.Psnr)).ToArray();
    }

    private static RdCurve ToCurve(string label, IReadOnlyList<(double Bpp, double Psnr, double MsSsim)> points) =>
        new(label, RdCurveKind.Published, "float", SourceNote,
            points.Select((p, i) => new RdPoint($"q{i + 1}", p.Bpp, p.Psnr, p.MsSsim) { Images = 24 }).ToArray());
}
