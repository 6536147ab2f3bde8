using LicBackdoor.Data;
using LicBackdoor.Weights;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LicBackdoor.Downstream;

/// <summary>
/// face-api's face recognition net (a dlib ResNet-34-like network; 150x150 RGB input, 128-D descriptor),
/// the downstream net of the paper's face-privacy attack. Built as specified in
/// <c>shared/docs/downstream-spec.md</c> Part B and loading face-api's TF.js weights.
/// </summary>
/// <remarks>
/// <para><see cref="Descriptors"/> takes <c>[N, 3, H, W]</c> float images in [0, 1] of any size and does
/// face-api's own tensor-path preprocessing inside: scale to 0..255, pad to a centred square with zeros,
/// resize to 150x150 with TF's <b>legacy</b> bilinear resize (<see cref="ResizeBilinearLegacy"/>), subtract
/// the mean RGB and divide by 255. Everything is differentiable with respect to the input image.</para>
/// <para>Network: a 7x7/2 conv unit, a 3x3/2 max-pool, then residual layers 32 (x3), 64 (down + x3),
/// 128 (down + x2), 256 (down + x2, down_out), a global average and a 256x128 matrix (no bias, no
/// normalisation). A conv unit is conv + bias, then dlib's folded affine "scale" layer. State-dict keys are
/// the TF.js names with '/' replaced by '.' (<c>conv64_down.conv1.conv.filters</c>); conv filters are stored
/// OIHW (the TF.js file has HWIO), <c>fc</c> keeps TF's [256, 128] layout. The parameters are frozen
/// (<c>requires_grad = false</c>); gradients flow to the input.</para>
/// </remarks>
public sealed class FaceRecognitionNet : nn.Module<Tensor, Tensor>
{
    /// <summary>Side of the square network input, in pixels.</summary>
    public const int InputSize = 150;

    /// <summary>Length of a face descriptor.</summary>
    public const int DescriptorSize = 128;

    /// <summary>Same person iff the Euclidean descriptor distance is below this (face-api FaceMatcher default).</summary>
    public const double DefaultThreshold = 0.6;

    /// <summary>Divisor applied after mean subtraction: 255 in @vladmandic/face-api 1.7.15 (face-api.js 0.22.2 and dlib use 256).</summary>
    public const float InputDivisor = 255f;

    /// <summary>File name of the TF.js weights manifest in face-api's <c>model/</c> folder.</summary>
    public const string ManifestFileName = "face_recognition_model-weights_manifest.json";

    /// <summary>Folder of the weights below the data root.</summary>
    public const string DataFolder = "models/face-recognition";

    /// <summary>Mean RGB (0..255 scale) subtracted from the input, as face-api's FaceRecognitionNet does.</summary>
    public static IReadOnlyList<float> MeanRgb { get; } = [122.782f, 117.001f, 104.298f];

    private readonly ConvUnit conv32_down;
    private readonly ResidualLayer conv32_1, conv32_2, conv32_3;
    private readonly ResidualLayer conv64_down, conv64_1, conv64_2, conv64_3;
    private readonly ResidualLayer conv128_down, conv128_1, conv128_2;
    private readonly ResidualLayer conv256_down, conv256_1, conv256_2, conv256_down_out;
    private readonly Parameter fc;
    private readonly ResidualLayer[] layers;

    /// <summary>A net with freshly initialised (He-normal, seeded by torch's global generator) weights.</summary>
    public FaceRecognitionNet() : base(nameof(FaceRecognitionNet))
    {
        conv32_down = new ConvUnit(3, 32, 7, stride: 2, padding: 0);
        conv32_1 = new ResidualLayer(32, 32, down: false);
        conv32_2 = new ResidualLayer(32, 32, down: false);
        conv32_3 = new ResidualLayer(32, 32, down: false);
        conv64_down = new ResidualLayer(32, 64, down: true);
        conv64_1 = new ResidualLayer(64, 64, down: false);
        conv64_2 = new ResidualLayer(64, 64, down: false);
        conv64_3 = new ResidualLayer(64, 64, down: false);
        conv128_down = new ResidualLayer(64, 128, down: true);
        conv128_1 = new ResidualLayer(128, 128, down: false);
        conv128_2 = new ResidualLayer(128, 128, down: false);
        conv256_down = new ResidualLayer(128, 256, down: true);
        conv256_1 = new ResidualLayer(256, 256, down: false);
        conv256_2 = new ResidualLayer(256, 256, down: false);
        conv256_down_out = new ResidualLayer(256, 256, down: true);
        fc = new Parameter(randn(256, DescriptorSize) / MathF.Sqrt(256), requires_grad: false);
        layers = [conv32_1, conv32_2, conv32_3, conv64_down, conv64_1, conv64_2, conv64_3, conv128_down, conv128_1,
            conv128_2, conv256_down, conv256_1, conv256_2, conv256_down_out];
        RegisterComponents();
    }

    /// <summary>Loads face-api's TF.js weights (a manifest file, or a folder holding one).</summary>
    /// <exception cref="CheckpointFormatException">The files are malformed or do not fit the net (names or shapes).</exception>
    public static FaceRecognitionNet Load(string manifestOrFolder)
    {
        var manifest = ResolveManifest(manifestOrFolder);
        var tf = TfJsWeights.Load(manifest);
        var mapped = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        FaceRecognitionNet? net = null;
        try
        {
            foreach (var (name, t) in tf)
            {
                if (name.EndsWith("/conv/filters", StringComparison.Ordinal))
                {
                    if (t.dim() != 4)
                        throw new CheckpointFormatException($"{manifest}: '{name}' has shape [{string.Join(",", t.shape)}], a conv kernel needs 4 dimensions", manifest);
                    mapped[name.Replace('/', '.')] = TfJsWeights.HwioToOihw(t);
                }
                else mapped[name.Replace('/', '.')] = t.alias();
            }
            net = new FaceRecognitionNet();
            StateDict.Load(net, mapped, manifest);
            net.eval();
            return net;
        }
        catch
        {
            net?.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in mapped.Values) t.Dispose();
            foreach (var t in tf.Values) t.Dispose();
        }
    }

    /// <summary>Loads the weights from <c>&lt;data&gt;/models/face-recognition/</c>.</summary>
    public static FaceRecognitionNet LoadDefault(string? dataRoot = null) => Load(DefaultManifestPath(dataRoot));

    /// <summary>The default manifest, <c>&lt;data&gt;/models/face-recognition/face_recognition_model-weights_manifest.json</c>.</summary>
    public static string DefaultManifestPath(string? dataRoot = null) => Path.Combine(DataRoot.Folder(DataFolder, dataRoot), ManifestFileName);

    /// <summary>A manifest path as given, or the single <c>*weights_manifest.json</c> in a folder.</summary>
    public static string ResolveManifest(string manifestOrFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(manifestOrFolder);
        if (File.Exists(manifestOrFolder)) return manifestOrFolder;
        if (!Directory.Exists(manifestOrFolder)) throw new FileNotFoundException($"{manifestOrFolder}: no such file or folder", manifestOrFolder);
        var preferred = Path.Combine(manifestOrFolder, ManifestFileName);
        if (File.Exists(preferred)) return preferred;
        var found = Directory.GetFiles(manifestOrFolder, "*weights_manifest.json");
        return found.Length == 1 ? found[0]
            : throw new FileNotFoundException($"{manifestOrFolder}: expected one *weights_manifest.json, found {found.Length}", manifestOrFolder);
    }

    /// <summary>
    /// 128-D descriptors <c>[N, 128]</c> of face crops <c>[N, 3, H, W]</c> float in [0, 1] (any H, W), with
    /// face-api's preprocessing (<see cref="Preprocess"/>). Differentiable with respect to <paramref name="images"/>.
    /// </summary>
    public Tensor Descriptors(Tensor images) => forward(Preprocess(images));

    /// <summary>
    /// The network on an already preprocessed batch <c>[N, 3, 150, 150]</c> (mean-subtracted, divided by
    /// <see cref="InputDivisor"/>); returns <c>[N, 128]</c>. Use <see cref="Descriptors"/> for images.
    /// </summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 3 || x.shape[2] != InputSize || x.shape[3] != InputSize)
            throw new ArgumentException($"the face net takes preprocessed [N, 3, {InputSize}, {InputSize}] input, got [{string.Join(",", x.shape)}]", nameof(x));
        using var scope = NewDisposeScope();
        var h = conv32_down.forward(x).relu();
        h = F.max_pool2d(h, 3, 2);
        foreach (var layer in layers) h = layer.forward(h);
        var g = h.mean([2L, 3L]);
        return g.matmul(fc).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// face-api's tensor-path preprocessing of <c>[N, 3, H, W]</c> images in [0, 1]: ×255, centred zero
    /// padding to a square (<see cref="PadToSquare"/>), TF legacy bilinear resize to 150x150 when the side
    /// differs, then <c>(v − mean RGB) / 255</c>. Returns <c>[N, 3, 150, 150]</c>; differentiable.
    /// </summary>
    public static Tensor Preprocess(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[1] != 3 || images.shape[2] < 1 || images.shape[3] < 1)
            throw new ArgumentException($"face images must be [N, 3, H, W], got [{string.Join(",", images.shape)}]", nameof(images));
        if (!images.is_floating_point())
            throw new ArgumentException($"face images must be floating point in [0, 1], got {images.dtype}", nameof(images));
        using var scope = NewDisposeScope();
        var v = PadToSquare(images.to_type(ScalarType.Float32) * 255f);
        if (v.shape[2] != InputSize) v = ResizeBilinearLegacy(v, InputSize, InputSize);
        var mean = tensor(MeanRgb.ToArray(), [1, 3, 1, 1], device: v.device);
        return ((v - mean) / InputDivisor).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pads <c>[N, C, H, W]</c> with zeros to a square, as face-api's <c>padToSquare(x, isCenterImage: true)</c>:
    /// with <c>d = |H − W|</c>, <c>round(d / 2)</c> (halves rounded up) goes after (bottom or right) and the
    /// rest before (top or left).
    /// </summary>
    public static Tensor PadToSquare(Tensor x)
    {
        long h = x.shape[2], w = x.shape[3];
        if (h == w) return x.alias();
        long diff = Math.Abs(h - w), after = (diff + 1) / 2, before = diff - after;
        var pad = h > w ? new[] { before, after, 0L, 0L } : new[] { 0L, 0L, before, after };
        return F.pad(x, pad, PaddingModes.Constant, 0.0);
    }

    /// <summary>
    /// TF's legacy bilinear resize (<c>tf.image.resizeBilinear</c> with <c>alignCorners = false</c>,
    /// <c>halfPixelCenters = false</c>) of <c>[N, C, H, W]</c>: output pixel <c>i</c> samples source
    /// coordinate <c>s = i · (in / out)</c> (float32), between <c>floor(s)</c> and <c>min(ceil(s), in − 1)</c>
    /// with weight <c>s − floor(s)</c>; horizontal interpolation first, then vertical, as TF computes it. Not
    /// PyTorch's <c>align_corners = false</c> mapping. Built from <c>index_select</c> and arithmetic, so
    /// it is differentiable.
    /// </summary>
    public static Tensor ResizeBilinearLegacy(Tensor x, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4) throw new ArgumentException($"expected [N, C, H, W], got [{string.Join(",", x.shape)}]", nameof(x));
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), "output size must be positive");
        using var scope = NewDisposeScope();
        var (x0, x1, fx) = LegacyTaps(x.shape[3], width, x.device);
        var left = x.index_select(3, x0);
        var rows = left + (x.index_select(3, x1) - left) * fx.view(1, 1, 1, width).to_type(x.dtype);
        var (y0, y1, fy) = LegacyTaps(x.shape[2], height, x.device);
        var top = rows.index_select(2, y0);
        var result = top + (rows.index_select(2, y1) - top) * fy.view(1, 1, height, 1).to_type(x.dtype);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Source indices and weights of TF's legacy scaler (<c>i · in/out</c> in float32).</summary>
    internal static (Tensor Lower, Tensor Upper, Tensor Lerp) LegacyTaps(long inSize, int outSize, Device device)
    {
        float scale = (float)inSize / outSize;
        var lower = new long[outSize];
        var upper = new long[outSize];
        var lerp = new float[outSize];
        for (int i = 0; i < outSize; i++)
        {
            float s = i * scale;
            float f = MathF.Floor(s);
            lower[i] = Math.Max((long)f, 0);
            upper[i] = Math.Min((long)MathF.Ceiling(s), inSize - 1);
            lerp[i] = s - f;
        }
        return (tensor(lower, device: device), tensor(upper, device: device), tensor(lerp, device: device));
    }

    /// <summary>
    /// The zero fix-up of face-api's <c>residualDown</c>: when the strided conv output <paramref name="y"/> is
    /// smaller than the pooled shortcut <paramref name="pooled"/>, append one zero row at the bottom and one
    /// zero column at the right of <paramref name="y"/> (zeros, not the scale bias; only ever one of each).
    /// </summary>
    internal static Tensor ShortcutFixUp(Tensor y, Tensor pooled)
    {
        if (y.shape[2] == pooled.shape[2] && y.shape[3] == pooled.shape[3]) return y;
        var padded = F.pad(y, [0L, 1L, 0L, 1L], PaddingModes.Constant, 0.0);
        if (padded.shape[2] != pooled.shape[2] || padded.shape[3] != pooled.shape[3])
            throw new InvalidOperationException(
                $"residualDown: conv output {y.shape[2]}x{y.shape[3]} cannot be fixed up to the shortcut's {pooled.shape[2]}x{pooled.shape[3]}");
        return padded;
    }

    /// <summary>Euclidean distance between two descriptors (each <c>[128]</c> or <c>[1, 128]</c>), in double.</summary>
    public static double Distance(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.numel() != b.numel()) throw new ArgumentException($"descriptors differ in size ({a.numel()} vs {b.numel()})", nameof(b));
        using var scope = NewDisposeScope();
        var d = a.detach().flatten().to_type(ScalarType.Float64) - b.detach().flatten().to_type(ScalarType.Float64);
        return d.mul(d).sum().sqrt().item<double>();
    }

    /// <summary>Row-wise Euclidean distances <c>[N]</c> between descriptor batches <c>[N, 128]</c>; differentiable.</summary>
    public static Tensor PairDistances(Tensor a, Tensor b)
    {
        var d = a - b;
        return d.mul(d).sum(1).sqrt();
    }

    /// <summary>conv + bias, then dlib's affine scale layer; keys <c>conv.filters</c>, <c>conv.bias</c>, <c>scale.weights</c>, <c>scale.biases</c>.</summary>
    private sealed class ConvUnit : nn.Module<Tensor, Tensor>
    {
        private readonly ConvParams conv;
        private readonly ScaleParams scale;
        private readonly long stride, padding;

        public ConvUnit(int inCh, int outCh, int kernel, int stride, int padding) : base(nameof(ConvUnit))
        {
            conv = new ConvParams(inCh, outCh, kernel);
            scale = new ScaleParams(outCh);
            this.stride = stride;
            this.padding = padding;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var y = F.conv2d(x, conv.filters, conv.bias, strides: [stride, stride], padding: [padding, padding]);
            return y * scale.weights.view(1, -1, 1, 1) + scale.biases.view(1, -1, 1, 1);
        }
    }

    private sealed class ConvParams : nn.Module
    {
        internal readonly Parameter filters, bias;

        public ConvParams(int inCh, int outCh, int kernel) : base(nameof(ConvParams))
        {
            filters = new Parameter(randn(outCh, inCh, kernel, kernel) * MathF.Sqrt(2f / (inCh * kernel * kernel)), requires_grad: false);
            bias = new Parameter(zeros(outCh), requires_grad: false);
            RegisterComponents();
        }
    }

    private sealed class ScaleParams : nn.Module
    {
        internal readonly Parameter weights, biases;

        public ScaleParams(int channels) : base(nameof(ScaleParams))
        {
            weights = new Parameter(ones(channels), requires_grad: false);
            biases = new Parameter(zeros(channels), requires_grad: false);
            RegisterComponents();
        }
    }

    /// <summary>face-api's <c>residual</c> / <c>residualDown</c> (spec B3); keys <c>conv1.*</c>, <c>conv2.*</c>.</summary>
    private sealed class ResidualLayer : nn.Module<Tensor, Tensor>
    {
        private readonly ConvUnit conv1, conv2;
        private readonly bool down;

        public ResidualLayer(int inCh, int outCh, bool down) : base(nameof(ResidualLayer))
        {
            if (!down && inCh != outCh) throw new ArgumentException("a plain residual layer keeps its channel count");
            if (down && outCh != inCh && outCh != 2 * inCh) throw new ArgumentException("a down layer keeps or doubles its channels");
            this.down = down;
            // residualDown: stride-2 'valid' conv; residual: 'same' (padding 1) convs.
            conv1 = new ConvUnit(inCh, outCh, 3, stride: down ? 2 : 1, padding: down ? 0 : 1);
            conv2 = new ConvUnit(outCh, outCh, 3, stride: 1, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var y = conv2.forward(conv1.forward(x).relu());
            if (!down) return (y + x).relu();
            var pooled = F.avg_pool2d(x, [2, 2], [2, 2]);
            y = ShortcutFixUp(y, pooled);
            if (pooled.shape[1] != y.shape[1]) pooled = cat([pooled, zeros_like(pooled)], 1);
            return (pooled + y).relu();
        }
    }
}
