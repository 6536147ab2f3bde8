using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using LicBackdoor.Data;
using LicBackdoor.Downstream;
using static TorchSharp.torch;

namespace LicBackdoor.Evaluation;

/// <summary>
/// A segmentation confusion matrix accumulated over a data set: rows are ground-truth classes
/// 0..<see cref="Classes"/>-1, columns predicted classes 0..<see cref="Classes"/>, where the last column
/// collects predictions of any other value (for CamVid: predicted void). Ground-truth pixels labelled
/// <see cref="IgnoreIndex"/> (CamVid void, 11) are not counted at all.
/// </summary>
public sealed class ConfusionMatrix
{
    private readonly long[] counts;

    /// <param name="classes">Scored classes (CamVid: 11, labels 0..10).</param>
    /// <param name="ignoreIndex">Ground-truth label left out of every count (CamVid void: 11).</param>
    public ConfusionMatrix(int classes = CamVid.ScoredClasses, int ignoreIndex = CamVid.VoidClass)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        Classes = classes;
        IgnoreIndex = ignoreIndex;
        counts = new long[classes * (classes + 1)];
    }

    /// <summary>Number of scored classes.</summary>
    public int Classes { get; }

    /// <summary>The ignored ground-truth label.</summary>
    public int IgnoreIndex { get; }

    /// <summary>Pixels with ground truth <paramref name="truth"/> predicted as <paramref name="predicted"/> (the last column: anything else).</summary>
    public long this[int truth, int predicted] => counts[truth * (Classes + 1) + predicted];

    /// <summary>Scored pixels (ground truth not ignored).</summary>
    public long Pixels => counts.Sum();

    /// <summary>
    /// Adds a prediction and its ground truth (same shape, any integer dtype, e.g. <c>[N, H, W]</c> or
    /// <c>[H, W]</c>). Ground-truth values outside 0..<see cref="Classes"/>-1 other than the ignore index are refused.
    /// </summary>
    public void Add(Tensor predicted, Tensor truth)
    {
        if (!predicted.shape.SequenceEqual(truth.shape))
            throw new ArgumentException($"prediction [{string.Join(", ", predicted.shape)}] and ground truth [{string.Join(", ", truth.shape)}] differ in shape");
        using var scope = NewDisposeScope();
        var t = truth.detach().cpu().to_type(ScalarType.Int64).flatten();
        var p = predicted.detach().cpu().to_type(ScalarType.Int64).flatten();
        var keep = t.ne(IgnoreIndex);
        t = t.masked_select(keep);
        p = p.masked_select(keep);
        if (t.numel() == 0) return;
        if (t.min().item<long>() < 0 || t.max().item<long>() >= Classes)
            throw new ArgumentException($"ground truth holds labels outside 0..{Classes - 1} and {IgnoreIndex}");
        p = where(p.ge(0).logical_and(p.lt(Classes)), p, tensor((long)Classes));
        var bins = bincount(t * (Classes + 1) + p, minlength: counts.Length);
        var add = bins.data<long>().ToArray();
        for (int i = 0; i < counts.Length; i++) counts[i] += add[i];
    }

    /// <summary>
    /// Intersection over union of class <paramref name="c"/>: TP / (TP + FP + FN), NaN when the class
    /// neither occurs nor is predicted.
    /// </summary>
    public double IoU(int c)
    {
        long tp = this[c, c], fn = 0, fp = 0;
        for (int j = 0; j <= Classes; j++) if (j != c) fn += this[c, j];
        for (int i = 0; i < Classes; i++) if (i != c) fp += this[i, c];
        long union = tp + fp + fn;
        return union == 0 ? double.NaN : (double)tp / union;
    }

    /// <summary>IoU of every scored class.</summary>
    public double[] ClassIoU() => Enumerable.Range(0, Classes).Select(IoU).ToArray();

    /// <summary>Mean IoU over the classes whose IoU is defined.</summary>
    public double MeanIoU()
    {
        var defined = ClassIoU().Where(v => !double.IsNaN(v)).ToList();
        return defined.Count == 0 ? double.NaN : defined.Average();
    }

    /// <summary>Correct pixels over scored pixels.</summary>
    public double GlobalAccuracy()
    {
        long correct = 0;
        for (int c = 0; c < Classes; c++) correct += this[c, c];
        long all = Pixels;
        return all == 0 ? double.NaN : (double)correct / all;
    }
}

/// <summary>Scores of a segmentation net on a CamVid split.</summary>
/// <param name="Weights">The weights file.</param>
/// <param name="Split">The CamVid split.</param>
/// <param name="Images">Images evaluated.</param>
/// <param name="ClassNames">Names of the scored classes.</param>
/// <param name="ClassIoU">IoU per scored class (NaN where undefined).</param>
/// <param name="MeanIoU">Mean IoU over the scored classes.</param>
/// <param name="GlobalAccuracy">Correct over scored pixels.</param>
/// <param name="Pixels">Scored pixels (void excluded).</param>
/// <param name="Threads">libtorch threads used.</param>
/// <param name="Seconds">Wall time of the evaluation.</param>
/// <param name="Date">When it ran (UTC).</param>
public sealed record SegmentationReport(
    string Weights, string Split, int Images, IReadOnlyList<string> ClassNames, IReadOnlyList<double> ClassIoU,
    double MeanIoU, double GlobalAccuracy, long Pixels, int Threads, double Seconds, string Date)
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The report as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        weights = Weights, split = Split, images = Images, pixels = Pixels, threads = Threads, seconds = Seconds, date = Date,
        mean_iou = MeanIoU, global_accuracy = GlobalAccuracy,
        class_iou = ClassNames.Zip(ClassIoU).ToDictionary(p => p.First, p => p.Second),
        protocol = "void (11) ignored; logits resized bilinearly (align_corners=false) to the label size; confusion accumulated over all images",
    }, JsonOptions);
}

/// <summary>
/// Evaluates a segmentation net on CamVid as the data README describes: each image goes through
/// <see cref="SegmentationNet.Predict"/> (the net's preprocessing, e.g. for the published ENet: resize to
/// 512 × 512, rounded 0..255 input; logits resized bilinearly back to 480 × 360, argmax), and the confusion
/// matrix over all images gives per-class IoU, mean IoU (classes 0..10) and global accuracy, with void ground
/// truth ignored.
/// </summary>
public static class SegmentationEvaluation
{
    /// <summary>Evaluates <paramref name="net"/> (put in eval mode) on the first <paramref name="limit"/> images of <paramref name="data"/>.</summary>
    public static SegmentationReport Evaluate(SegmentationNet net, CamVid data, string weights, int? limit = null, Action<int, int, CamVidSample>? progress = null)
    {
        var samples = limit is int n ? data.Samples.Take(Math.Max(n, 0)).ToList() : data.Samples.ToList();
        return Evaluate(net, samples, data.Split, weights, progress);
    }

    /// <summary>Evaluates <paramref name="net"/> on the given samples; the net is left in eval mode.</summary>
    public static SegmentationReport Evaluate(SegmentationNet net, IReadOnlyList<CamVidSample> samples, string split, string weights, Action<int, int, CamVidSample>? progress = null)
    {
        net.eval();
        var matrix = new ConfusionMatrix();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < samples.Count; i++)
        {
            using var scope = NewDisposeScope();
            var x = samples[i].LoadImage();
            var labels = samples[i].LoadLabels();
            if (x.shape[2] != labels.shape[0] || x.shape[3] != labels.shape[1])
                throw new ArgumentException($"{samples[i].LabelPath}: labels are {labels.shape[1]}x{labels.shape[0]} but the image {samples[i].ImagePath} is {x.shape[3]}x{x.shape[2]}");
            matrix.Add(net.Predict(x)[0], labels);
            progress?.Invoke(i + 1, samples.Count, samples[i]);
        }
        return new SegmentationReport(weights, split, samples.Count, CamVid.ClassNames.Take(CamVid.ScoredClasses).ToList(),
            matrix.ClassIoU(), matrix.MeanIoU(), matrix.GlobalAccuracy(), matrix.Pixels, get_num_threads(), sw.Elapsed.TotalSeconds,
            DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
    }
}
