using LicBackdoor.Codec.Ops;
using static TorchSharp.torch;

namespace LicBackdoor.Codec.Entropy;

/// <summary>
/// Conditional Gaussian entropy model (Ballé et al. 2018; Minnen et al. 2018): each latent is a Gaussian
/// with its own scale (and mean) convolved with a unit uniform, so a bin's likelihood is
/// <c>Φ((0.5 - |y-μ|)/σ) - Φ((-0.5 - |y-μ|)/σ)</c>. For coding, scales are rounded up to a table of 64
/// values (0.11 … 256, log-spaced) and each table entry has a quantised CDF.
/// Buffers (CompressAI keys): <c>scale_table</c>, <c>scale_bound</c>, the CDF tables,
/// <c>likelihood_lower_bound.bound</c>, <c>lower_bound_scale.bound</c>.
/// </summary>
public sealed partial class GaussianConditional : EntropyModel
{
    /// <summary>Scale table range and size: SCALES_MIN, SCALES_MAX, SCALES_LEVELS (CompressAI models/base.py, from Ballé's TF examples).</summary>
    public const double ScalesMin = 0.11, ScalesMax = 256;
    public const int ScalesLevels = 64;

    private readonly Tensor scale_table;
    private readonly Tensor scale_bound;
    private readonly LowerBound lower_bound_scale;
    private float[]? scaleTableCache;

    public GaussianConditional(IReadOnlyList<float>? scaleTable = null, double scaleBound = ScalesMin,
        double tailMass = DefaultTailMass, double likelihoodBound = DefaultLikelihoodBound)
        : base(nameof(GaussianConditional), likelihoodBound, tailMass)
    {
        if (scaleTable is not null) ValidateScaleTable(scaleTable);
        if (scaleBound <= 0) throw new ArgumentOutOfRangeException(nameof(scaleBound), "scale bound must be positive");
        scale_table = scaleTable is null ? zeros(0) : tensor(scaleTable.ToArray());
        scale_bound = tensor(new[] { (float)scaleBound });
        lower_bound_scale = new LowerBound(scaleBound);
        register_buffer("scale_table", scale_table);
        register_buffer("scale_bound", scale_bound);
        register_module("lower_bound_scale", lower_bound_scale);
        RegisterEntropyBuffers();
    }

    /// <summary>The default scale table, <c>exp(linspace(ln 0.11, ln 256, 64))</c> computed in float32 as CompressAI does.</summary>
    public static float[] DefaultScaleTable() => GaussianConditionalTables.DefaultScaleTable();

    /// <summary>
    /// A log-spaced scale table from 0.11 to 256 with <paramref name="levels"/> entries: CompressAI's exact table
    /// for 64, a finer one otherwise. Scales are rounded up to the table when coding, which costs ~2 % of the
    /// y rate with 64 levels (ratio 1.131 between entries); finer tables shrink that overhead (the project's trained models use 192 levels, see models/README.md for their real vs likelihood bpp).
    /// </summary>
    public static float[] ScaleTableWithLevels(int levels) =>
        levels == ScalesLevels ? DefaultScaleTable() : GaussianConditionalTables.ComputeScaleTable(ScalesMin, ScalesMax, levels);

    /// <summary>Most scale-table levels whose CDF tables are rebuilt on load (CompressAI: 64, the project's models: 192).</summary>
    public const int MaxRebuiltLevels = 4096;

    /// <summary>The lower bound applied to scales (0.11 by default).</summary>
    public float ScaleBoundValue => scale_bound.item<float>();

    /// <summary>The scale table buffer (float [levels]); empty until <see cref="Update"/>.</summary>
    public Tensor ScaleTable => scale_table;

    public override IReadOnlyList<string> ResizableBufferNames => new[] { "_offset", "_quantized_cdf", "_cdf_length", "scale_table" };

    /// <summary>Checks that a scale table is a non-empty, strictly increasing list of positive finite values.</summary>
    public static void ValidateScaleTable(IReadOnlyList<float> table)
    {
        if (table.Count == 0) throw new ArgumentException("scale table must not be empty");
        for (int i = 0; i < table.Count; i++)
        {
            if (!float.IsFinite(table[i]) || table[i] <= 0) throw new ArgumentException($"scale table entry {i} ({table[i]}) must be positive and finite");
            if (i > 0 && table[i] <= table[i - 1]) throw new ArgumentException("scale table must be sorted in increasing order");
        }
    }

    private static Tensor StandardizedCumulative(Tensor v) => 0.5 * torch.special.erfc(v * (-1.0 / Math.Sqrt(2.0)));

    /// <summary>The bin likelihood of <paramref name="y"/> under N(means, scales²) convolved with U(-½,½) (no floor).</summary>
    public Tensor Likelihood(Tensor y, Tensor scales, Tensor? means = null)
    {
        var values = means is null ? y.abs() : (y - means).abs();
        var s = lower_bound_scale.forward(scales);
        var upper = StandardizedCumulative((0.5 - values) / s);
        var lower = StandardizedCumulative((-0.5 - values) / s);
        return upper - lower;
    }

    /// <summary>Quantises <paramref name="y"/> (noise in training, <c>round(y-μ)+μ</c> otherwise) and returns it with its floored likelihood.</summary>
    /// <param name="y">The latent.</param>
    /// <param name="scales">σ, the shape of y.</param>
    /// <param name="means">μ, or null for zero-mean.</param>
    /// <param name="training">Quantise as in training (noise); default: the module's mode.</param>
    /// <param name="straightThrough">Outside training, pass gradients straight through the rounding (<see cref="EntropyModel.StraightThrough"/>).</param>
    public (Tensor Output, Tensor Likelihood) Forward(Tensor y, Tensor scales, Tensor? means = null, bool? training = null, bool straightThrough = false)
    {
        bool train = training ?? this.training;
        if (!y.shape.SequenceEqual(scales.shape)) throw new ArgumentException("y and scales must have the same shape");
        var outputs = train ? Quantize(y, QuantizeMode.Noise)
            : straightThrough ? StraightThrough(y, means) : Quantize(y, QuantizeMode.Dequantize, means);
        var lik = BoundLikelihood(Likelihood(outputs, scales, means));
        return (outputs, lik);
    }

    /// <summary>The scale table as floats (cached).</summary>
    public float[] ScaleTableValues()
    {
        if (scaleTableCache is null)
        {
            if (scale_table.numel() == 0) throw new InvalidOperationException("GaussianConditional has no scale table: run Update() first.");
            scaleTableCache = scale_table.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        }
        return scaleTableCache;
    }

    /// <summary>
    /// Table index for each scale: the first table entry &gt;= max(scale, scale_bound), clamped to the last
    /// (scales are rounded up). Same result as CompressAI's <c>build_indexes</c>.
    /// </summary>
    public Tensor BuildIndexes(Tensor scales)
    {
        var data = scales.detach().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        var idx = new int[data.Length];
        BuildIndexes(data, idx);
        return tensor(idx, scales.shape, ScalarType.Int32);
    }

    /// <summary>Span form of <see cref="BuildIndexes(Tensor)"/> for the autoregressive coder.</summary>
    public void BuildIndexes(ReadOnlySpan<float> scales, Span<int> indexes)
    {
        var table = ScaleTableValues();
        float bound = Math.Max(ScaleBoundValue, 0f);
        BuildIndexes(table, bound, scales, indexes);
    }

    internal static void BuildIndexes(float[] table, float bound, ReadOnlySpan<float> scales, Span<int> indexes)
    {
        if (indexes.Length != scales.Length) throw new ArgumentException("indexes and scales differ in length");
        int last = table.Length - 1;
        for (int i = 0; i < scales.Length; i++)
        {
            float s = scales[i];
            s = s > bound ? s : bound; // NaN becomes the bound
            // index = last - #{k < last : s <= table[k]}; the table is sorted, so binary search the first k with table[k] >= s.
            int lo = 0, hi = last;
            while (lo < hi)
            {
                int mid = (lo + hi) >> 1;
                if (s <= table[mid]) hi = mid; else lo = mid + 1;
            }
            indexes[i] = lo;
        }
    }

    /// <summary>
    /// Builds the CDF tables for the scale table (CompressAI <c>update_scale_table</c> + <c>update</c>).
    /// Returns false when tables exist and <paramref name="force"/> is false.
    /// </summary>
    public bool Update(IReadOnlyList<float>? scaleTable = null, bool force = false)
    {
        if (HasTables && !force) return false;
        var table = (scaleTable ?? DefaultScaleTable()).ToArray();
        ValidateScaleTable(table);
        using (no_grad()) scale_table.set_(tensor(table));
        scaleTableCache = null;
        var built = GaussianConditionalTables.Build(table, TailMass);
        var cdf = new int[built.Count * built.Stride];
        var lengths = new int[built.Count];
        var offsets = new int[built.Count];
        for (int i = 0; i < built.Count; i++)
        {
            built.Row(i).CopyTo(cdf.AsSpan(i * built.Stride, built.Stride));
            lengths[i] = built.CdfLength(i);
            offsets[i] = built.Offset(i);
        }
        SetTables(cdf, built.Stride, lengths, offsets);
        return true;
    }

    /// <summary>
    /// Drops cached copies of buffers after a checkpoint load, and rebuilds the CDF tables from the loaded scale
    /// table when the file carried the table without them (compact files, <c>licb weights convert --drop-tables</c>):
    /// they are a pure function of the scale table (<see cref="GaussianConditionalTables.Build"/>, bit-exact), so
    /// the rebuilt tables are the ones that were dropped.
    /// </summary>
    /// <exception cref="ArgumentException">The scale table is invalid or longer than <see cref="MaxRebuiltLevels"/>.</exception>
    internal void OnBuffersLoaded()
    {
        scaleTableCache = null;
        InvalidateCoderTable();
        if (!HasTables && scale_table.numel() > 0)
        {
            if (scale_table.numel() > MaxRebuiltLevels)
                throw new ArgumentException($"scale_table has {scale_table.numel()} levels and no CDF tables; at most {MaxRebuiltLevels} levels are rebuilt");
            Update(scale_table.to_type(ScalarType.Float32).contiguous().data<float>().ToArray(), force: true);
        }
    }
}
