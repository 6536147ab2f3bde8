namespace LicBackdoor.Evaluation;

/// <summary>Where a rate-distortion curve comes from.</summary>
public enum RdCurveKind
{
    /// <summary>One of our learned codecs, measured through real bitstreams.</summary>
    Learned,

    /// <summary>JPEG through SkiaSharp, measured here.</summary>
    Jpeg,

    /// <summary>WebP through SkiaSharp, measured here.</summary>
    Webp,

    /// <summary>Published numbers (CompressAI's Kodak results), not measured here.</summary>
    Published,
}

/// <summary>
/// One operating point of a codec: the <b>means over the evaluated images</b> of per-image bpp, PSNR and
/// MS-SSIM. PSNR is the mean of per-image PSNR values (not the PSNR of the mean MSE), which is what
/// CompressAI's <c>eval_model</c> reports and what its published Kodak numbers are.
/// </summary>
/// <param name="Setting">The codec setting, e.g. "q3" (learned quality index) or "q50" (JPEG/WebP quality).</param>
/// <param name="Bpp">Mean bits per pixel of the real files/bitstreams.</param>
/// <param name="Psnr">Mean per-image PSNR in dB.</param>
/// <param name="MsSsim">Mean per-image MS-SSIM; NaN when some image is too small for MS-SSIM (side ≤ 160) or the source gives none.</param>
public sealed record RdPoint(string Setting, double Bpp, double Psnr, double MsSsim)
{
    /// <summary>How many images the means are over.</summary>
    public int Images { get; init; }

    /// <summary>Learned codecs: the weights used (a file, or "init(seed=…)" for the seeded fresh initialisation).</summary>
    public string? Weights { get; init; }

    /// <summary>Learned codecs: mean likelihood (estimated) bpp of the eval-mode forward pass.</summary>
    public double? EstimatedBpp { get; init; }

    /// <summary>Learned codecs: mean likelihood bpp of the symbols the bitstream codes (differs from <see cref="EstimatedBpp"/> for autoregressive models).</summary>
    public double? CodedEstimatedBpp { get; init; }

    /// <summary>Mean encode time per image in seconds, when measured.</summary>
    public double? EncodeSeconds { get; init; }

    /// <summary>Mean decode time per image in seconds, when measured.</summary>
    public double? DecodeSeconds { get; init; }
}

/// <summary>A rate-distortion curve: a codec's operating points, sorted by bpp.</summary>
/// <param name="Label">The codec's name in tables and the plot legend, e.g. "JPEG" or "bmshj2018-hyperprior".</param>
/// <param name="Kind">Learned, JPEG, WebP or published.</param>
/// <param name="Metrics">On what the metrics are computed: "8-bit" (decoded 8-bit images) or "float" (the codec's float reconstruction, clamped to [0, 1]).</param>
/// <param name="Source">A short description of the codec or the numbers' origin.</param>
/// <param name="Points">The operating points.</param>
public sealed record RdCurve(string Label, RdCurveKind Kind, string Metrics, string Source, IReadOnlyList<RdPoint> Points)
{
    /// <summary>Draw the curve dashed with large open markers, so it stays visible where it meets a solid curve (e.g. a victim on poisoned images).</summary>
    public bool Dashed { get; init; }

    /// <summary>The points in increasing bpp order.</summary>
    public IReadOnlyList<RdPoint> SortedByBpp => Points.OrderBy(p => p.Bpp).ToArray();

    /// <summary>(bpp, PSNR) pairs in increasing bpp order, as <see cref="BjontegaardDelta"/> takes them.</summary>
    public IReadOnlyList<(double Bpp, double Psnr)> BppPsnr => SortedByBpp.Select(p => (p.Bpp, p.Psnr)).ToArray();

    /// <summary>True when PSNR strictly increases with bpp (what a sensible codec curve does; untrained models may not).</summary>
    public bool IsMonotone
    {
        get
        {
            var s = SortedByBpp;
            for (int i = 1; i < s.Count; i++)
                if (!(s[i].Bpp > s[i - 1].Bpp && s[i].Psnr > s[i - 1].Psnr)) return false;
            return true;
        }
    }
}
